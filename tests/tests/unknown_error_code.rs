//! A newer server's error code: the client decodes it and follows the body's
//! `retryable` instead of misreading the body.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use plasma::client::platform::native::{HttpTransport, TokioPlatform};
use plasma::client::{BackoffConfig, Client, SyncStatus, Transport, TransportError};
use plasma::protocol::{ErrorCode, PROTOCOL_VERSION, PullRequest};
use todo::{Ctx, SCHEMA, SCHEMA_VERSION, TodoMutators};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves `status` with `body` to every request on 127.0.0.1; returns the
/// endpoint and a count of requests answered.
async fn fixed_server(status: u16, body: &'static str) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let served = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&served);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let count = Arc::clone(&count);
            tokio::spawn(async move {
                // Read the head and the (small) body; the answer does not depend on them.
                let mut buf = vec![0u8; 64 * 1024];
                let mut read = 0;
                loop {
                    let Ok(n) = socket.read(&mut buf[read..]).await else { return };
                    if n == 0 {
                        return;
                    }
                    read += n;
                    let text = String::from_utf8_lossy(&buf[..read]);
                    if let Some(head_end) = text.find("\r\n\r\n") {
                        let length = text[..head_end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
                            })
                            .and_then(|v| v.parse::<usize>().ok())
                            .unwrap_or(0);
                        if read >= head_end + 4 + length {
                            break;
                        }
                    }
                }
                count.fetch_add(1, Ordering::SeqCst);
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (format!("http://{addr}"), served)
}

fn pull_request() -> PullRequest {
    PullRequest {
        protocol_version: PROTOCOL_VERSION,
        schema_version: SCHEMA_VERSION.to_owned(),
        client_group_id: "g".to_owned(),
        cookie: None,
    }
}

#[tokio::test]
async fn http_transport_decodes_an_unknown_error_code_with_its_body() {
    let (endpoint, _) = fixed_server(422, r#"{"error":"new_code","message":"x","retryable":true}"#).await;
    let transport = HttpTransport::new(endpoint).expect("transport");
    let err = transport.pull(pull_request()).await.expect_err("the server refuses");
    let TransportError::Server { status, body } = err else { panic!("expected a server error, got {err:?}") };
    assert_eq!(status, 422);
    assert_eq!(body.error, ErrorCode::Unknown);
    assert_eq!(body.message, "x", "the server's message, not the raw body");
    assert!(body.retryable, "the server's verdict, not one guessed from the status");
}

async fn client_against(endpoint: &str) -> Client<TodoMutators> {
    let client = Client::<TodoMutators>::builder(&SCHEMA, "g")
        .context(|| Ctx::client("u"))
        .pull_interval(Duration::from_secs(600))
        .backoff(BackoffConfig { initial: Duration::from_millis(10), max: Duration::from_millis(20) })
        .build(HttpTransport::new(endpoint).expect("transport"), TokioPlatform::current().expect("runtime"))
        .await
        .expect("build client");
    client.start();
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_retries_an_unknown_code_only_when_the_body_says_so() {
    // Not retryable: this build cannot act on the code, so it stops and asks for an update.
    let (endpoint, served) = fixed_server(400, r#"{"error":"new_code","message":"x","retryable":false}"#).await;
    let client = client_against(&endpoint).await;
    let start = Instant::now();
    while client.status() != SyncStatus::UpdateNeeded {
        assert!(start.elapsed() < Duration::from_secs(10), "status stayed {:?}", client.status());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let after_stop = served.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(served.load(Ordering::SeqCst), after_stop, "no retry after a non-retryable answer");

    // Retryable: the client keeps trying with backoff.
    let (endpoint, served) = fixed_server(400, r#"{"error":"new_code","message":"x","retryable":true}"#).await;
    let client = client_against(&endpoint).await;
    let start = Instant::now();
    while served.load(Ordering::SeqCst) < 3 {
        assert!(start.elapsed() < Duration::from_secs(10), "only {} attempts", served.load(Ordering::SeqCst));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_ne!(client.status(), SyncStatus::UpdateNeeded);
}

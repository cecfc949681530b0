//! The poke socket on the browser's `WebSocket`: connects, then yields once
//! per text message until the socket closes or fails.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_channel::mpsc::{UnboundedReceiver, unbounded};
use futures_util::{Stream, StreamExt};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use super::js::JsError;
use crate::client::platform::{BoxStream, TransportError};
use crate::protocol::{POKE_SUBPROTOCOL, header_subprotocol};

/// What the socket's event handlers report.
enum SocketEvent {
    Open,
    Text,
    /// Closed or failed; nothing follows.
    Ended {
        code: u16,
        reason: String,
    },
}

/// The socket and its handlers; dropping it closes the socket.
struct PokeSocket {
    socket: web_sys::WebSocket,
    events: UnboundedReceiver<SocketEvent>,
    ended: bool,
    _handlers: [Closure<dyn FnMut(web_sys::Event)>; 4],
}

/// Opens the poke socket at `url`, offering [`POKE_SUBPROTOCOL`] and one
/// subprotocol per header (a browser `WebSocket` cannot send headers).
/// Fails with [`TransportError::Network`] if it does not open: the browser
/// does not say why (a refused upgrade looks like an unreachable server).
pub(super) async fn connect_pokes(
    url: &str,
    headers: &[(String, String)],
) -> Result<BoxStream<'static, ()>, TransportError> {
    let protocols = js_sys::Array::new();
    protocols.push(&JsValue::from_str(POKE_SUBPROTOCOL));
    for (name, value) in headers {
        protocols.push(&JsValue::from_str(&header_subprotocol(name, value)));
    }
    let socket = web_sys::WebSocket::new_with_str_sequence(url, &protocols)
        .map_err(|e| TransportError::network_from(&format!("cannot open {url}"), JsError::from(e)))?;
    let (tx, events) = unbounded();
    let handler = |f: fn(&web_sys::Event) -> SocketEvent| {
        let tx = tx.clone();
        Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
            let _ = tx.unbounded_send(f(&event));
        })
    };
    let on_open = handler(|_| SocketEvent::Open);
    let on_message = handler(|event| match event.dyn_ref::<web_sys::MessageEvent>() {
        Some(message) if message.data().is_string() => SocketEvent::Text,
        // The server never sends binary frames: something else answers here.
        _ => SocketEvent::Ended { code: 1003, reason: "unexpected binary message".to_owned() },
    });
    let on_close = handler(|event| match event.dyn_ref::<web_sys::CloseEvent>() {
        Some(close) => SocketEvent::Ended { code: close.code(), reason: close.reason() },
        None => SocketEvent::Ended { code: 1006, reason: String::new() },
    });
    let on_error = handler(|_| SocketEvent::Ended { code: 1006, reason: "connection failed".to_owned() });
    socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    socket.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    let mut pokes = PokeSocket { socket, events, ended: false, _handlers: [on_open, on_message, on_close, on_error] };
    match pokes.events.next().await {
        Some(SocketEvent::Open) => Ok(Box::pin(pokes)),
        Some(SocketEvent::Ended { code, reason }) => {
            Err(TransportError::network(format!("poke socket {url} did not open (close code {code}: {reason})")))
        }
        Some(SocketEvent::Text) | None => Err(TransportError::network(format!("poke socket {url} did not open"))),
    }
}

impl Stream for PokeSocket {
    type Item = ();

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        loop {
            if self.ended {
                return Poll::Ready(None);
            }
            match self.events.poll_next_unpin(cx) {
                Poll::Ready(Some(SocketEvent::Text)) => return Poll::Ready(Some(())),
                Poll::Ready(Some(SocketEvent::Open)) => {}
                Poll::Ready(Some(SocketEvent::Ended { .. }) | None) => self.ended = true,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl Drop for PokeSocket {
    fn drop(&mut self) {
        self.socket.set_onopen(None);
        self.socket.set_onmessage(None);
        self.socket.set_onclose(None);
        self.socket.set_onerror(None);
        let _ = self.socket.close();
    }
}

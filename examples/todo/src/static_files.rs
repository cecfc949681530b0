//! `todo --web DIR`: the web client's files at `/`, next to `/sync`, so the
//! page and the sync endpoint share one origin (no CORS).
//!
//! A few lines of axum rather than a file-server crate: the site is a handful
//! of flat files (index.html, CSS, the wasm-bindgen JS and wasm).

use std::path::{Path, PathBuf};

use axum::Router;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// `router` plus a fallback that serves the files of `dir` (`/` is `index.html`).
pub fn with_site(router: Router, dir: PathBuf) -> Router {
    router.fallback(get(move |uri: Uri| serve(dir.clone(), uri)))
}

async fn serve(dir: PathBuf, uri: Uri) -> Response {
    let Some(relative) = safe_relative(uri.path()) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let path = dir.join(relative);
    match tokio::fs::read(&path).await {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type(&path))),
                // Rebuilt files show on the next reload.
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            ],
            body,
        )
            .into_response(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (StatusCode::NOT_FOUND, "not found").into_response(),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read a site file");
            (StatusCode::INTERNAL_SERVER_ERROR, "cannot read the file").into_response()
        }
    }
}

/// The file a request path names under the site directory: `index.html` for
/// `/`, and nothing for paths that could leave the directory or name hidden
/// or encoded names.
fn safe_relative(path: &str) -> Option<PathBuf> {
    let trimmed = path.trim_start_matches('/');
    if trimmed.is_empty() {
        return Some(PathBuf::from("index.html"));
    }
    let mut out = PathBuf::new();
    for part in trimmed.split('/') {
        let plain = !part.is_empty()
            && !part.starts_with('.')
            && part.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !plain {
            return None;
        }
        out.push(part);
    }
    Some(out)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::safe_relative;

    #[test]
    fn only_plain_paths_inside_the_site() {
        assert_eq!(safe_relative("/").as_deref(), Some(std::path::Path::new("index.html")));
        assert_eq!(safe_relative("/pkg/todo_web.js").as_deref(), Some(std::path::Path::new("pkg/todo_web.js")));
        for bad in ["/../x", "/pkg/../../x", "/.git/config", "/a//b", "/%2e%2e/x", "/a\\b"] {
            assert_eq!(safe_relative(bad), None, "{bad}");
        }
    }
}

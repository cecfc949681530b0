//! Request headers carried as WebSocket subprotocols.
//!
//! A browser's `WebSocket` cannot send headers, so the browser transport
//! offers each of its headers (the credentials the auth hook reads) as a
//! subprotocol `plasma-header.<name>.<base64url value>`
//! ([`header_subprotocol`](crate::protocol::header_subprotocol)). The poke
//! endpoint turns them back into headers before the auth hook runs, and
//! selects [`POKE_SUBPROTOCOL`](crate::protocol::POKE_SUBPROTOCOL) in its answer.

use http::header::{HeaderName, SEC_WEBSOCKET_PROTOCOL};
use http::{HeaderMap, HeaderValue};

use crate::protocol::parse_header_subprotocol;

/// Adds the headers that `Sec-WebSocket-Protocol` carries. A header the
/// request already has is kept as sent; malformed entries are ignored.
pub fn add_subprotocol_headers(headers: &mut HeaderMap) {
    let carried: Vec<(HeaderName, HeaderValue)> = headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(parse_header_subprotocol)
        .filter_map(|(name, value)| {
            Some((HeaderName::from_bytes(name.as_bytes()).ok()?, HeaderValue::from_bytes(&value).ok()?))
        })
        .collect();
    for (name, value) in carried {
        if !headers.contains_key(&name) {
            headers.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{POKE_SUBPROTOCOL, header_subprotocol};

    #[test]
    fn carried_headers_are_added_but_never_replace_sent_ones() {
        let mut headers = HeaderMap::new();
        let offered =
            [POKE_SUBPROTOCOL.to_owned(), header_subprotocol("x-user", "alice"), header_subprotocol("host", "evil")];
        headers.insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_str(&offered.join(", ")).expect("value"));
        headers.insert("host", HeaderValue::from_static("server"));
        add_subprotocol_headers(&mut headers);
        assert_eq!(headers.get("x-user").map(HeaderValue::as_bytes), Some(&b"alice"[..]));
        assert_eq!(headers.get("host").map(HeaderValue::as_bytes), Some(&b"server"[..]));
    }
}

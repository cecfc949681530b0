//! Checks on a request before any database work, written once for every
//! server front (the axum/hyper server here, a Worker next): protocol and
//! schema versions, body shape, ids, pinned groups and clients, per-push
//! limits, known mutators. Each failure is the typed error the wire promises.

use crate::mutator::Registry;
use crate::protocol::{ErrorCode, PROTOCOL_VERSION, PullRequest, PushRequest, VersionProbe};
use crate::server::error::ServerError;
use crate::server::{Authorized, MAX_ID_BYTES};
use crate::strict::Strict;

/// What a request is checked against.
#[derive(Debug, Clone, Copy)]
pub struct RequestRules<'a> {
    /// The server's schema version.
    pub schema_version: &'a str,
    /// Most mutations in one push.
    pub max_mutations_per_push: usize,
}

/// A push body from `who`, checked: a [`ServerError`] for anything the
/// server must refuse before running mutators.
pub fn push_request<R: Registry, C>(
    rules: RequestRules<'_>,
    who: &Authorized<C>,
    body: &[u8],
) -> Result<PushRequest, ServerError> {
    check_version(body)?;
    let request: PushRequest = parse(body)?;
    check_common(rules, &request.schema_version, &request.client_group_id, who)?;
    if request.mutations.len() > rules.max_mutations_per_push {
        return Err(ServerError::new(
            ErrorCode::PayloadTooLarge,
            format!("a push carries at most {} mutations", rules.max_mutations_per_push),
        ));
    }
    for client in request.applied_through.keys() {
        check_id("client id", client)?;
    }
    for m in &request.mutations {
        check_id("client id", &m.client_id)?;
        if let Some(pinned) = &who.client_id
            && *pinned != m.client_id
        {
            return Err(ServerError::new(ErrorCode::Forbidden, "mutation of a client this request may not write for"));
        }
        if m.id == 0 || i64::try_from(m.id).is_err() {
            return Err(ServerError::new(ErrorCode::BadRequest, format!("mutation id {} is out of range", m.id)));
        }
        if !R::contains(&m.name) {
            return Err(ServerError::new(ErrorCode::UnknownMutator, format!("unknown mutator `{}`", m.name)));
        }
    }
    Ok(request)
}

/// A pull body from `who`, checked.
pub fn pull_request<C>(rules: RequestRules<'_>, who: &Authorized<C>, body: &[u8]) -> Result<PullRequest, ServerError> {
    check_version(body)?;
    let request: PullRequest = parse(body)?;
    check_common(rules, &request.schema_version, &request.client_group_id, who)?;
    Ok(request)
}

fn check_common<C>(
    rules: RequestRules<'_>,
    schema_version: &str,
    group: &str,
    who: &Authorized<C>,
) -> Result<(), ServerError> {
    if schema_version != rules.schema_version {
        return Err(ServerError::new(
            ErrorCode::SchemaVersionMismatch,
            format!(
                "client schema version `{schema_version}` differs from the server's `{}`: update needed",
                rules.schema_version
            ),
        ));
    }
    check_id("client group id", group)?;
    if let Some(pinned) = &who.client_group_id
        && pinned != group
    {
        return Err(ServerError::new(ErrorCode::Forbidden, "this request may not use that client group"));
    }
    Ok(())
}

/// Refuses a body naming another protocol version, before parsing the rest
/// (its shape may differ).
fn check_version(body: &[u8]) -> Result<(), ServerError> {
    if let Ok(Strict(VersionProbe { protocol_version: Some(v) })) = serde_json::from_slice::<Strict<VersionProbe>>(body)
        && v.as_u64() != Some(u64::from(PROTOCOL_VERSION))
    {
        return Err(ServerError::new(
            ErrorCode::UnsupportedProtocolVersion,
            format!("protocol version {v} is not supported; this server speaks {PROTOCOL_VERSION}: update needed"),
        ));
    }
    Ok(())
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ServerError> {
    serde_json::from_slice::<Strict<T>>(body)
        .map(Strict::into_inner)
        .map_err(|e| ServerError::new(ErrorCode::InvalidRequest, format!("invalid body: {e}")))
}

/// Refuses an empty or over-long id.
pub(crate) fn check_id(what: &str, id: &str) -> Result<(), ServerError> {
    if id.is_empty() || id.len() > MAX_ID_BYTES {
        return Err(ServerError::new(ErrorCode::BadRequest, format!("{what} must be 1 to {MAX_ID_BYTES} bytes")));
    }
    Ok(())
}

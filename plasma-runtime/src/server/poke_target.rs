//! Which client groups must pull after a push: the one decision every
//! backend's poke fan-out (the SQLite server's hub, the Worker's Durable
//! Object) acts on.

use crate::protocol::ErrorCode;
use crate::server::error::ServerError;
use crate::server::push::PushOutcome;

/// Which client groups a commit concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PokeTarget {
    /// Row data changed: every group sees every row, so everyone pulls.
    All,
    /// Only this group's bookkeeping changed (for example a failed mutation).
    Group(String),
    /// Only these groups: the pusher's, and those whose read scope the
    /// commit touched (a server with read rules decides it per group).
    Groups(Vec<String>),
}

impl PokeTarget {
    /// Whether `group` must pull.
    pub fn includes(&self, group: &str) -> bool {
        match self {
            PokeTarget::All => true,
            PokeTarget::Group(g) => g == group,
            PokeTarget::Groups(groups) => groups.iter().any(|g| g == group),
        }
    }
}

impl PokeTarget {
    /// Whom to poke after a push of `group` ended with `result`, if anyone.
    pub fn after_push(result: &Result<PushOutcome, ServerError>, group: String) -> Option<PokeTarget> {
        match result {
            Ok(outcome) if outcome.data_changed => Some(PokeTarget::All),
            Ok(outcome) if outcome.anything_committed => Some(PokeTarget::Group(group)),
            Ok(_) => None,
            // A busy error may follow committed mutations; pulling is always safe.
            Err(e) if e.code == ErrorCode::Busy => Some(PokeTarget::All),
            Err(_) => None,
        }
    }
}

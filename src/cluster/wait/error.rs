//! How a wait ends without what it awaited. Each says what was awaited, what was watched and
//! what was seen, so the message alone tells a person where to look.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("timed out after {budget:?} waiting for {awaited} ({watched}); last seen: {last}{lost}{events}")]
    Timeout {
        awaited: String,
        watched: String,
        budget: Duration,
        last: String,
        /// Why part of the history may be missing, when it is.
        lost: String,
        events: String,
    },
    /// The watched object reached a state from which the awaited one cannot follow.
    #[error("gave up waiting for {awaited} ({watched}): {object} is {reached} ({state})")]
    Terminal {
        awaited: String,
        watched: String,
        object: String,
        reached: String,
        state: String,
    },
    /// The API server refused in a way retrying cannot heal (401, 403, 404, 422, …).
    #[error("cannot watch {watched} while waiting for {awaited}: the API server answered {code} {reason}: {message}")]
    Refused {
        awaited: String,
        watched: String,
        code: u16,
        reason: String,
        message: String,
    },
    /// Something that had to hold for a window stopped holding.
    #[error("{what} stopped holding within {window:?} ({watched}); seen: {last}")]
    Broken {
        what: String,
        watched: String,
        window: Duration,
        last: String,
    },
}

/// Why following a watch stopped before its check passed.
pub(super) enum Stop {
    Terminal { object: String, state: String },
    Refused(Box<kube::core::Status>),
}

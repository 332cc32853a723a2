//! Elicitations: pending requests to a user to add scopes, and their state machine.
//!
//! ```text
//! Pending ──submit──▶ Authorizing ──callback ok──▶ Completed
//!    │                  │  ▲   └──callback refused──▶ Failed ──submit──▶ Authorizing
//!    │                  │  └──submit again (user went back)
//!    └──cancel──▶ Declined ◀──declined at provider──┘
//! ```
//! Any state but `Completed` ends when the elicitation expires.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::ports::{Random, RandomError};
use crate::principal::{AccountId, ProviderId};
use crate::scope::{Scope, ScopeSet};
use crate::time::UnixTime;

/// Random bytes in an elicitation id.
pub const ELICITATION_ID_BYTES: usize = 16;

/// The opaque id of an elicitation: 128 random bits, base64url without padding. It carries no
/// user data and is not a bearer capability.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ElicitationId(String);

impl ElicitationId {
    /// A fresh random id.
    pub fn generate(random: &dyn Random) -> Result<Self, RandomError> {
        let mut bytes = [0_u8; ELICITATION_ID_BYTES];
        random.fill(&mut bytes)?;
        Ok(Self(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Parses an id from a URL or a message; anything but 22 base64url characters is refused.
    pub fn parse(text: &str) -> Result<Self, InvalidElicitationId> {
        let decoded = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| InvalidElicitationId)?;
        if decoded.len() != ELICITATION_ID_BYTES {
            return Err(InvalidElicitationId);
        }
        Ok(Self(text.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ElicitationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ElicitationId({})", self.0)
    }
}

impl fmt::Display for ElicitationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ElicitationId {
    type Error = InvalidElicitationId;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<ElicitationId> for String {
    fn from(id: ElicitationId) -> Self {
        id.0
    }
}

/// The text is not an elicitation id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an elicitation id")]
pub struct InvalidElicitationId;

/// A pending request to a user to add scopes at a provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Elicitation {
    /// The id in the link.
    pub id: ElicitationId,
    /// The principal's subject.
    pub subject: String,
    /// The upstream account the upgrade must come back as, where known when it was opened.
    pub expected_account: Option<AccountId>,
    /// The provider.
    pub provider: ProviderId,
    /// The scopes the refusal needs (all of them).
    pub needed: ScopeSet,
    /// Alternatives of which any one suffices.
    pub any_of: Vec<Scope>,
    /// Why it was opened, for the page (the provider's words, untrusted).
    pub upstream_message: Option<String>,
    /// Ties audit events, tool answers and pages together.
    pub correlation_id: String,
    /// Where it is in its life.
    pub state: ElicitationState,
    /// When it was opened.
    pub created_at: UnixTime,
    /// When it stops being usable.
    pub expires_at: UnixTime,
    /// How many tool calls were answered with it (the retry cap counts these).
    pub times_handed_out: u32,
}

/// Where an elicitation is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ElicitationState {
    /// Waiting for the user to open the link and choose.
    Pending,
    /// The user chose; the browser was sent to the provider asking for `requested`.
    Authorizing {
        /// The scopes asked for.
        requested: ScopeSet,
    },
    /// The upgrade was stored.
    Completed {
        /// What the provider granted.
        granted: ScopeSet,
        /// What was requested and not granted.
        declined: ScopeSet,
    },
    /// The user declined, on the picker or at the provider.
    Declined,
    /// The last attempt failed; the user may try again from the page.
    Failed {
        /// Why.
        reason: FailureReason,
    },
}

/// Why an attempt to complete an elicitation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureReason {
    /// The provider's account is not the one the principal is connected as.
    WrongAccount,
    /// The principal has no known upstream account to compare with, and trusting the first
    /// connect is not enabled.
    UnverifiedAccount,
    /// The new grant would hold fewer scopes than the one it replaces.
    NarrowerGrant,
    /// The provider answered with an error.
    ProviderError,
    /// The provider could not be reached, or answered something unreadable.
    ProviderUnavailable,
    /// The provider granted none of the scopes the refusal needs.
    NeededScopeDeclined,
}

impl FailureReason {
    /// A sentence for the user.
    pub fn explain(self) -> &'static str {
        match self {
            Self::WrongAccount => {
                "The account you signed in with at the provider is not the account you are \
                 connected as. Nothing was stored. Sign in as the connected account and try again."
            }
            Self::UnverifiedAccount => {
                "This server cannot tell which account you are connected as, so it refused to \
                 store the new access. Nothing was stored."
            }
            Self::NarrowerGrant => {
                "The provider granted less than you already had, so the existing access was \
                 kept. Nothing was replaced."
            }
            Self::ProviderError => "The provider refused the authorization. Nothing was stored.",
            Self::ProviderUnavailable => {
                "The provider could not be reached or gave an unreadable answer. Nothing was \
                 stored; try again in a moment."
            }
            Self::NeededScopeDeclined => {
                "The provider did not grant the access the tool needs. Nothing was changed."
            }
        }
    }
}

/// What happens to an elicitation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ElicitationEvent {
    /// The user submitted the picker.
    Submitted {
        /// The scopes asked for.
        requested: ScopeSet,
    },
    /// The user cancelled on the picker.
    Cancelled,
    /// The callback stored an upgrade.
    Granted {
        /// What was granted.
        granted: ScopeSet,
        /// What was requested and not granted.
        declined: ScopeSet,
    },
    /// The provider reported that the user declined.
    DeclinedAtProvider,
    /// The callback refused the upgrade.
    Refused(FailureReason),
}

/// An event that the elicitation's state does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransitionError {
    /// The elicitation has expired.
    #[error("the elicitation has expired")]
    Expired,
    /// The elicitation is finished.
    #[error("the elicitation is already finished")]
    Finished,
    /// The event does not fit the state (a callback with no authorization under way, say).
    #[error("that step does not fit the elicitation's state")]
    OutOfOrder,
}

impl Elicitation {
    /// Whether the elicitation can no longer be used at `now`.
    pub fn is_expired(&self, now: UnixTime) -> bool {
        now >= self.expires_at
    }

    /// Whether the elicitation is finished (completed or declined).
    pub fn is_finished(&self) -> bool {
        matches!(
            self.state,
            ElicitationState::Completed { .. } | ElicitationState::Declined
        )
    }

    /// Applies an event at `now`, or says why it does not fit.
    pub fn apply(&mut self, event: ElicitationEvent, now: UnixTime) -> Result<(), TransitionError> {
        if self.is_finished() {
            return Err(TransitionError::Finished);
        }
        if self.is_expired(now) {
            return Err(TransitionError::Expired);
        }

        let authorizing = matches!(self.state, ElicitationState::Authorizing { .. });
        self.state = match event {
            ElicitationEvent::Submitted { requested } => {
                ElicitationState::Authorizing { requested }
            }
            ElicitationEvent::Cancelled => ElicitationState::Declined,
            ElicitationEvent::Granted { granted, declined } if authorizing => {
                ElicitationState::Completed { granted, declined }
            }
            ElicitationEvent::DeclinedAtProvider if authorizing => ElicitationState::Declined,
            ElicitationEvent::Refused(reason) if authorizing => ElicitationState::Failed { reason },
            _ => return Err(TransitionError::OutOfOrder),
        };
        Ok(())
    }

    /// All scopes this elicitation is about: the needed ones and the alternatives.
    pub fn scopes_in_question(&self) -> ScopeSet {
        self.needed.union(&self.any_of.iter().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct CountingRandom;

    impl Random for CountingRandom {
        fn fill(&self, buffer: &mut [u8]) -> Result<(), RandomError> {
            for (index, byte) in buffer.iter_mut().enumerate() {
                *byte = index as u8;
            }
            Ok(())
        }
    }

    fn elicitation() -> Elicitation {
        Elicitation {
            id: ElicitationId::generate(&CountingRandom).unwrap(),
            subject: "alice".into(),
            expected_account: None,
            provider: ProviderId::new("demo").unwrap(),
            needed: ScopeSet::parse("notes:write").unwrap(),
            any_of: vec![],
            upstream_message: None,
            correlation_id: "c1".into(),
            state: ElicitationState::Pending,
            created_at: UnixTime::from_secs(100),
            expires_at: UnixTime::from_secs(700),
            times_handed_out: 1,
        }
    }

    fn submitted() -> ElicitationEvent {
        ElicitationEvent::Submitted {
            requested: ScopeSet::parse("notes:write").unwrap(),
        }
    }

    #[test]
    fn ids_are_128_bits_of_base64url() {
        let id = ElicitationId::generate(&CountingRandom).unwrap();
        assert_eq!(id.as_str().len(), 22);
        assert_eq!(ElicitationId::parse(id.as_str()), Ok(id));
        assert!(ElicitationId::parse("short").is_err());
        assert!(ElicitationId::parse("AAAAAAAAAAAAAAAAAAAAA/").is_err());
        assert!(ElicitationId::parse("../../../../../etc/passwd").is_err());
    }

    #[test]
    fn the_happy_path_runs_pending_to_completed() {
        let now = UnixTime::from_secs(200);
        let mut elicitation = elicitation();
        elicitation.apply(submitted(), now).unwrap();
        elicitation
            .apply(
                ElicitationEvent::Granted {
                    granted: ScopeSet::new(),
                    declined: ScopeSet::new(),
                },
                now,
            )
            .unwrap();
        assert!(elicitation.is_finished());
        assert_eq!(
            elicitation.apply(submitted(), now),
            Err(TransitionError::Finished)
        );
    }

    #[test]
    fn a_callback_without_an_authorization_under_way_is_out_of_order() {
        let now = UnixTime::from_secs(200);
        let mut elicitation = elicitation();
        let granted = ElicitationEvent::Granted {
            granted: ScopeSet::new(),
            declined: ScopeSet::new(),
        };
        assert_eq!(
            elicitation.apply(granted, now),
            Err(TransitionError::OutOfOrder)
        );
        assert_eq!(elicitation.state, ElicitationState::Pending);
    }

    #[test]
    fn a_failed_attempt_can_be_retried_and_expiry_ends_everything() {
        let mut elicitation = elicitation();
        elicitation
            .apply(submitted(), UnixTime::from_secs(200))
            .unwrap();
        elicitation
            .apply(
                ElicitationEvent::Refused(FailureReason::WrongAccount),
                UnixTime::from_secs(201),
            )
            .unwrap();
        elicitation
            .apply(submitted(), UnixTime::from_secs(202))
            .unwrap();
        assert_eq!(
            elicitation.apply(ElicitationEvent::Cancelled, UnixTime::from_secs(700)),
            Err(TransitionError::Expired)
        );
    }
}

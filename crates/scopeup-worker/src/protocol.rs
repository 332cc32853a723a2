//! The wire protocol between a Worker and the store's Durable Object, and the one function that
//! decides every operation.
//!
//! Each record lives in a Durable Object of its own, named after its store key. The object keeps
//! one [`Entry`] and answers one [`Command`] per request with [`apply`]: it reads the entry,
//! decides, and writes the result back without awaiting anything but its own storage, so the
//! runtime's input gate makes every command atomic. Keeping the decision in a plain function lets
//! the native tests run the store conformance suite against it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

/// One store operation, as the Worker sends it to the record's Durable Object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Command {
    /// Read the live value.
    Get,
    /// Replace the value, expiring after `ttl_ms` when given.
    Put {
        /// The new value.
        value: Bytes,
        /// The time to live in milliseconds.
        ttl_ms: Option<u64>,
    },
    /// Remove the value.
    Delete,
    /// Remove and return the live value.
    Take,
    /// Replace (or remove) the value only if the live value equals `expected`.
    CompareAndSwap {
        /// The value that must be live (`None`: none may be).
        expected: Option<Bytes>,
        /// The value to store (`None`: remove).
        new: Option<Bytes>,
        /// The time to live of the new value in milliseconds.
        ttl_ms: Option<u64>,
    },
}

/// The Durable Object's answer to a [`Command`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reply {
    /// The live value of a `get` or `take`, if any.
    Value {
        /// The value.
        value: Option<Bytes>,
    },
    /// A `put` or `delete` was done.
    Done,
    /// Whether a compare-and-swap happened.
    Swapped {
        /// `true` when the value was replaced.
        swapped: bool,
    },
}

/// What a record's Durable Object keeps: the value and when it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The value.
    pub value: Bytes,
    /// When the value expires, in milliseconds since the Unix epoch.
    pub expires_at_ms: Option<u64>,
}

/// What [`apply`] asks the Durable Object to do with its stored entry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Write {
    /// Leave storage as it is.
    Keep,
    /// Store this entry.
    Set(Entry),
    /// Remove the entry.
    Remove,
}

/// Bytes that travel as base64 text in JSON.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Bytes(pub Vec<u8>);

/// Decides one command against the stored entry at `now_ms`. An expired entry counts as absent
/// and is removed.
pub fn apply(stored: Option<Entry>, command: Command, now_ms: u64) -> (Reply, Write) {
    let expired = stored
        .as_ref()
        .is_some_and(|entry| is_expired(entry, now_ms));
    let live = if expired { None } else { stored };
    let cleanup = if expired { Write::Remove } else { Write::Keep };

    match command {
        Command::Get => (
            Reply::Value {
                value: live.map(|entry| entry.value),
            },
            cleanup,
        ),
        Command::Put { value, ttl_ms } => (Reply::Done, Write::Set(entry(value, ttl_ms, now_ms))),
        Command::Delete => (Reply::Done, Write::Remove),
        Command::Take => match live {
            Some(entry) => (
                Reply::Value {
                    value: Some(entry.value),
                },
                Write::Remove,
            ),
            None => (Reply::Value { value: None }, cleanup),
        },
        Command::CompareAndSwap {
            expected,
            new,
            ttl_ms,
        } => {
            let current = live.map(|entry| entry.value);
            if current != expected {
                return (Reply::Swapped { swapped: false }, cleanup);
            }
            let write = match new {
                Some(value) => Write::Set(entry(value, ttl_ms, now_ms)),
                None => Write::Remove,
            };
            (Reply::Swapped { swapped: true }, write)
        }
    }
}

/// Whether `entry` has expired at `now_ms`.
pub fn is_expired(entry: &Entry, now_ms: u64) -> bool {
    entry
        .expires_at_ms
        .is_some_and(|expires_at| expires_at <= now_ms)
}

fn entry(value: Bytes, ttl_ms: Option<u64>, now_ms: u64) -> Entry {
    Entry {
        value,
        expires_at_ms: ttl_ms.map(|ttl| now_ms.saturating_add(ttl)),
    }
}

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values are sealed records; their length is all a log needs.
        write!(f, "Bytes({} bytes)", self.0.len())
    }
}

/// A value that should have been standard base64 and was not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not standard base64")]
pub struct NotBase64;

impl TryFrom<String> for Bytes {
    type Error = NotBase64;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        STANDARD.decode(text).map(Self).map_err(|_| NotBase64)
    }
}

impl From<Bytes> for String {
    fn from(bytes: Bytes) -> Self {
        STANDARD.encode(bytes.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(text: &str) -> Bytes {
        Bytes(text.as_bytes().to_vec())
    }

    fn stored(text: &str, expires_at_ms: Option<u64>) -> Option<Entry> {
        Some(Entry {
            value: bytes(text),
            expires_at_ms,
        })
    }

    #[test]
    fn commands_and_replies_have_a_stable_wire_form() {
        let command = Command::CompareAndSwap {
            expected: None,
            new: Some(bytes("hi")),
            ttl_ms: Some(60_000),
        };
        let json = serde_json::to_string(&command).unwrap();
        assert_eq!(
            json,
            r#"{"op":"compare_and_swap","expected":null,"new":"aGk=","ttl_ms":60000}"#
        );
        assert_eq!(serde_json::from_str::<Command>(&json).unwrap(), command);
        let reply = serde_json::to_string(&Reply::Swapped { swapped: true }).unwrap();
        assert_eq!(reply, r#"{"reply":"swapped","swapped":true}"#);
    }

    #[test]
    fn malformed_values_are_refused() {
        let json = r#"{"op":"put","value":"not base64!","ttl_ms":null}"#;
        assert!(serde_json::from_str::<Command>(json).is_err());
        assert!(serde_json::from_str::<Command>(r#"{"op":"launch"}"#).is_err());
    }

    #[test]
    fn expired_entries_are_absent_and_removed() {
        let (reply, write) = apply(stored("old", Some(10)), Command::Get, 10);
        assert_eq!(reply, Reply::Value { value: None });
        assert_eq!(write, Write::Remove);

        let (reply, write) = apply(stored("live", Some(11)), Command::Get, 10);
        assert_eq!(
            reply,
            Reply::Value {
                value: Some(bytes("live"))
            }
        );
        assert_eq!(write, Write::Keep);
    }

    #[test]
    fn take_returns_the_value_once() {
        let (reply, write) = apply(stored("state", None), Command::Take, 0);
        assert_eq!(
            reply,
            Reply::Value {
                value: Some(bytes("state"))
            }
        );
        assert_eq!(write, Write::Remove);
        let (reply, _) = apply(None, Command::Take, 0);
        assert_eq!(reply, Reply::Value { value: None });
    }

    #[test]
    fn compare_and_swap_needs_the_expected_value() {
        let swap = |expected: Option<&str>| Command::CompareAndSwap {
            expected: expected.map(bytes),
            new: Some(bytes("new")),
            ttl_ms: Some(5),
        };

        let (reply, write) = apply(stored("a", None), swap(Some("b")), 100);
        assert_eq!(reply, Reply::Swapped { swapped: false });
        assert_eq!(write, Write::Keep);

        let (reply, write) = apply(stored("a", None), swap(None), 100);
        assert_eq!(reply, Reply::Swapped { swapped: false });
        assert_eq!(write, Write::Keep);

        // An expired value counts as absent, so "insert if absent" succeeds over it.
        let (reply, write) = apply(stored("a", Some(50)), swap(None), 100);
        assert_eq!(reply, Reply::Swapped { swapped: true });
        assert_eq!(
            write,
            Write::Set(Entry {
                value: bytes("new"),
                expires_at_ms: Some(105)
            })
        );
    }
}

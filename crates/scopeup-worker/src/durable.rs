//! The Durable Object class that keeps one record per object: it answers the protocol's
//! commands and deletes its record when it expires.
//!
//! Export it from the Worker (`pub use scopeup_worker::ScopeupStore;`), bind a namespace of it
//! in `wrangler.toml`, and add a migration that creates the class.

use worker::{DurableObject, Env, Request, Response, State, durable_object};

use crate::protocol::{Command, Entry, Write, apply, is_expired};

/// The storage key of the one entry each object keeps.
const ENTRY: &str = "entry";

/// The Durable Object class behind [`crate::WorkerStore`]. One object holds one record.
#[durable_object]
pub struct ScopeupStore {
    state: State,
}

impl DurableObject for ScopeupStore {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, mut request: Request) -> worker::Result<Response> {
        let Ok(text) = request.text().await else {
            return Response::error("unreadable store command", 400);
        };
        let Ok(command) = serde_json::from_str::<Command>(&text) else {
            return Response::error("malformed store command", 400);
        };

        // Only this object's own storage is awaited between the read and the write, so the
        // input gate keeps any other command out: each command is atomic.
        let storage = self.state.storage();
        let stored: Option<Entry> = storage.get(ENTRY).await?;
        let now = worker::Date::now().as_millis();
        let (reply, write) = apply(stored, command, now);
        match write {
            Write::Keep => {}
            Write::Set(entry) => {
                if let Some(expires_at) = entry.expires_at_ms {
                    let offset = i64::try_from(expires_at.saturating_sub(now)).unwrap_or(i64::MAX);
                    storage.set_alarm(offset).await?;
                }
                storage.put(ENTRY, &entry).await?;
            }
            Write::Remove => {
                storage.delete(ENTRY).await?;
            }
        }

        Response::from_json(&reply)
    }

    async fn alarm(&self) -> worker::Result<Response> {
        let storage = self.state.storage();
        let stored: Option<Entry> = storage.get(ENTRY).await?;
        let now = worker::Date::now().as_millis();
        match stored {
            Some(entry) if is_expired(&entry, now) => {
                storage.delete_all().await?;
            }
            // Replaced by a value that lives longer: come back when that one expires.
            Some(Entry {
                expires_at_ms: Some(expires_at),
                ..
            }) => {
                let offset = i64::try_from(expires_at.saturating_sub(now)).unwrap_or(i64::MAX);
                storage.set_alarm(offset).await?;
            }
            _ => {}
        }
        Response::empty()
    }
}

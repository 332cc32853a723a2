//! The example's audit sink: one JSON object a line, on stdout or appended to a file.

use std::fs::File;
use std::io::Write as _;
use std::sync::Mutex;

use anyhow::Context as _;
use scopeup_core::{AuditEvent, AuditSink};

/// Writes each audit event as one line of JSON (the [`AuditEvent`] fields, `kind` in
/// snake case). A write failure is logged and the event dropped; it never fails a request.
#[derive(Debug)]
pub struct JsonLinesAudit {
    target: Mutex<Target>,
}

#[derive(Debug)]
enum Target {
    Stdout,
    File(File),
}

impl JsonLinesAudit {
    /// `stdout`, or a file path to append to (created when missing).
    pub fn open(setting: &str) -> anyhow::Result<Self> {
        let target = match setting {
            "stdout" | "-" => Target::Stdout,
            path => Target::File(
                File::options()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("opening the audit file {path}"))?,
            ),
        };
        Ok(Self {
            target: Mutex::new(target),
        })
    }
}

impl AuditSink for JsonLinesAudit {
    fn record(&self, event: &AuditEvent) {
        let mut line = match serde_json::to_vec(event) {
            Ok(line) => line,
            Err(error) => {
                tracing::warn!(%error, "an audit event could not be encoded");
                return;
            }
        };
        line.push(b'\n');
        let mut target = self
            .target
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let written = match &mut *target {
            Target::Stdout => std::io::stdout().lock().write_all(&line),
            Target::File(file) => file.write_all(&line),
        };
        if let Err(error) = written {
            tracing::warn!(%error, "an audit event could not be written");
        }
    }
}

//! The default audit sink: one `tracing` event per audit event.

use scopeup_core::{AuditEvent, AuditSink};

/// Writes each audit event as an `info` event on the `scopeup::audit` target, with structured
/// fields. No secret is ever part of an audit event.
///
/// This is the one place the library logs at `info`, on purpose: an audit trail is for the
/// operator, not for debugging, and comes only on changes (an elicitation opened, a grant
/// stored, refreshed or revoked), never per tool call. Filter the `scopeup::audit` target to
/// route or silence it, or give the engine another [`AuditSink`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingAuditSink;

impl AuditSink for TracingAuditSink {
    fn record(&self, event: &AuditEvent) {
        tracing::info!(
            target: "scopeup::audit",
            kind = ?event.kind,
            correlation_id = %event.correlation_id,
            principal = %event.principal,
            provider = %event.provider,
            scopes = %event.scopes,
            detail = event.detail.as_deref().unwrap_or(""),
            "audit"
        );
    }
}

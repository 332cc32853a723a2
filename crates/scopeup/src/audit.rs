//! The default audit sink: one `tracing` event per audit event.

use scopeup_core::{AuditEvent, AuditSink};

/// Writes each audit event as an `info` event on the `scopeup::audit` target, with structured
/// fields. No secret is ever part of an audit event.
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

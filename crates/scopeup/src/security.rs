//! The security model: what scopeup protects, against whom, and the specifications it follows.
//!
//! This module holds no items; it is documentation.
//!
//! # What is protected
//!
//! scopeup holds upstream OAuth tokens for the principals of an MCP server (the *host*) and asks
//! them for more scopes when a tool needs them. What must never happen: a principal's tokens
//! reaching someone else, someone else's tokens landing in a principal's grant, a scope granted
//! without the principal's consent, or a stored token readable by whoever reads the store.
//!
//! The attackers considered: another user of the same MCP server (with their own principal and
//! upstream account), anyone who gets hold of an elicitation link, a web page in the user's
//! browser, a compromised or misbehaving upstream answer (its text, its status, its scopes),
//! and whoever can read the store's backend. The host itself, its sealing keys and the
//! provider's authorization server are trusted.
//!
//! # The link and the picker
//!
//! - The link holds only a 128-bit random elicitation id. It grants nothing: whoever opens it
//!   must come back from the provider as the principal's own upstream account before anything
//!   is stored (below), so a forwarded or phished link cannot bind an attacker's account to a
//!   victim's principal, nor the reverse.
//! - Only two routes change an elicitation: the picker's `POST` and the OAuth callback. The
//!   `POST` carries a CSRF token stored for the elicitation and the browser's binding cookie
//!   (RFC 9700, "Cross-Site Request Forgery"), and is compared in constant time.
//! - Submitted scopes are checked against the provider's catalog; anything unknown, malformed or
//!   oversize is a `400` and never forwarded. The request asks for the union of what is granted,
//!   what was asked before, what the tool needs and what the user chose (never less than is
//!   held), capped at the provider's per-request limit.
//! - Pages send `Content-Security-Policy` with no third-party origin, no inline script and
//!   `frame-ancestors 'none'` (RFC 9700, "Clickjacking"), `Referrer-Policy: no-referrer` (RFC
//!   9700, "Credential Leakage via Referer Headers"), `Cache-Control: no-store` and
//!   `X-Content-Type-Options: nosniff`. Every value a page shows is escaped by the template
//!   engine; upstream text is labelled as the provider's words.
//! - Cookies are `__Host-` prefixed, `Secure`, `HttpOnly` and `SameSite=Lax`; only
//!   `EngineConfig::dangerous_allow_http_loopback` drops `Secure` and the prefix, for a loopback
//!   development URL.
//!
//! # The authorization
//!
//! - Authorization code grant (RFC 6749 §4.1) with PKCE S256 always (RFC 7636 §4.2), whatever
//!   the provider's metadata says, and a fixed redirect URI checked against the engine's public
//!   URL when the engine is built.
//! - The OAuth `state` is 256 bits of randomness (RFC 6749 §10.12), stored single-use with the
//!   PKCE verifier and the browser binding for ten minutes, and taken atomically at the
//!   callback: a replayed callback finds nothing.
//! - The callback must come back to the browser that started (the binding cookie), and where
//!   the provider names itself, with the configured issuer (RFC 9207 §2.4, against mix-up).
//! - The account the new token belongs to is looked up (userinfo, or the provider's own
//!   endpoint) and must be the account the principal is bound to: given by the host, or recorded
//!   at the principal's first connect. A principal with neither is refused unless the host opted
//!   in with `EngineConfig::dangerous_trust_first_connect`.
//! - The granted scopes are read from the token response, and taken as the requested ones only
//!   where the response omits them (RFC 6749 §5.1). An upgrade that would narrow the held grant
//!   is refused and the old grant kept.
//!
//! # Grants at rest and in use
//!
//! - Every record is sealed with XChaCha20-Poly1305 before it reaches a backend, under the newest
//!   key of a key ring whose key id is stored beside the ciphertext, with the record's store key
//!   as associated data (RFC 5116's AEAD interface), so that a value copied under another key
//!   does not open. Store keys are SHA-256 hashes: a backend dump holds no subject, account,
//!   elicitation id or token.
//! - Secret types (tokens, codes, verifiers, client secrets, sealing keys) redact `Debug`, have
//!   no `Display`, compare in constant time and are zeroed on drop. No log line and no audit
//!   event holds one; principals appear in audit events only as hashes.
//! - A refresh never asks for more scope than was granted and never stores more than it had
//!   (RFC 6749 §6): a missing scope always goes to the user. One refresh runs per grant across
//!   instances, under a lease in the store, so that a single-use rotating refresh token is not
//!   redeemed twice (RFC 9700, "Refresh Token Protection").
//! - Tokens an upgrade replaced are revoked (RFC 7009 §2) where the provider issues separate
//!   grants; where revoking a refresh token would revoke the whole grant (RFC 7009 §2.1), they
//!   are dropped and left to expire.
//! - The MCP client's own token is never sent upstream: tools receive only the grant's token.
//! - `token_for` reads the sealed record on every call and reuses an opened grant only while the
//!   record is byte for byte the same, so a revocation or another instance's refresh is seen at
//!   the next call.
//!
//! # Refusals and challenges
//!
//! - A refusal is classified from the upstream HTTP answer in trusted code (RFC 6750 §3 and
//!   §3.1 for `WWW-Authenticate` and `insufficient_scope`, and each preset's own signals), never
//!   from text a tool or a model produced. What no scope can fix opens no elicitation.
//! - In challenge mode the answer is RFC 6750's `insufficient_scope` with the union of held and
//!   missing scopes and the RFC 9728 `resource_metadata` URL, as the MCP authorization
//!   specification's step-up flow expects.
//!
//! # Outages and hostile input
//!
//! A store or provider failure gives the tool a clear error and the pages a `503`, and loses no
//! stored grant. Parsers of untrusted input (`WWW-Authenticate`, token responses, forms,
//! `requestState`) return errors, never panic, and the `WWW-Authenticate` parser is fuzzed.
//!
//! # Not covered
//!
//! A host whose sealing keys leak, an authorization server that issues tokens for the wrong
//! account, and a browser already compromised by malware are outside this model. With several
//! instances, the `2025-11-25` completion notification reaches a client only through the
//! instance holding its session.

//! Encryption at rest: the [`SealedStore`] that seals every value before it reaches a backend,
//! and the [`KeyRing`] of [`SealingKey`]s it seals under.
//!
//! Each value is sealed with XChaCha20-Poly1305 under the ring's current key and a fresh random
//! 24-byte nonce. Records sealed under older keys of the ring still open, and every rewrite
//! seals under the current key, so a key is rotated by adding a newer one to the ring and
//! dropping the old one once the records it sealed have expired or been rewritten.
//!
//! # Record format
//!
//! Version 1, the only one so far:
//!
//! | offset | length | field |
//! | --- | --- | --- |
//! | 0 | 1 | format version, `0x01` |
//! | 1 | 1 | length `n` of the key id, 1 to 32 |
//! | 2 | `n` | the [`KeyId`] the record was sealed under, ASCII |
//! | 2 + `n` | 24 | the nonce |
//! | 26 + `n` | value's length | the ciphertext |
//! | end − 16 | 16 | the Poly1305 tag |
//!
//! The associated data is the header (the first 2 + `n` bytes) followed by the text of the
//! record's [`StoreKey`](scopeup_core::StoreKey). A record copied to another key, or whose key
//! id was altered, fails authentication.
//!
//! What the ring cannot hide: a backend still sees each record's store key (a hash), its length
//! (the value's length plus 26 + `n` bytes), its expiry and the id of the key that sealed it.

mod key_ring;
mod sealed_store;

pub use key_ring::{KeyId, KeyRing, KeyRingError, SealingKey};
pub use sealed_store::{SealError, SealedStore};

//! Sealing keys, their ids, and the key ring that names the current key and keeps older ones
//! for opening records sealed before a rotation.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_PAD_INDIFFERENT, URL_SAFE_PAD_INDIFFERENT};
use scopeup_core::secret::constant_time_eq;
use scopeup_core::{Random, RandomError};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// A 256-bit key for XChaCha20-Poly1305.
///
/// `Debug` prints only the type name, there is no `Display`, comparison is constant-time, and the
/// bytes are zeroed on drop. Keys come from configuration ([`from_base64`](Self::from_base64))
/// or from a secure random source ([`generate`](Self::generate)).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SealingKey([u8; SealingKey::LEN]);

/// The name of a [`SealingKey`] in a [`KeyRing`], written beside every record it seals:
/// 1 to 32 ASCII letters, digits, `-` or `_`.
///
/// A date (`2025-01`) or a counter (`k3`) makes rotations easy to follow.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct KeyId(String);

/// The sealing keys a [`SealedStore`](crate::SealedStore) knows: the current one, which seals
/// every new record, and older ones, which still open records sealed before a rotation.
///
/// Never empty, and no two keys share an id. `Debug` shows the key ids only.
#[derive(Clone)]
pub struct KeyRing {
    current: (KeyId, SealingKey),
    /// Oldest first.
    older: Vec<(KeyId, SealingKey)>,
}

/// A sealing key, key id or key ring configuration was refused.
///
/// No variant holds key material, nor text that might be key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyRingError {
    /// A key id was empty, longer than 32 bytes, or held another character than ASCII letters,
    /// digits, `-` and `_`. The id is not repeated, in case a key was put in its place.
    #[error("key ids are 1 to 32 ASCII letters, digits, `-` or `_`")]
    InvalidKeyId,
    /// A sealing key was not base64, standard or URL-safe.
    #[error("sealing key is not valid base64")]
    InvalidBase64,
    /// A sealing key decoded to other than 32 bytes.
    #[error("sealing key decodes to {len} bytes instead of 32")]
    WrongKeyLength {
        /// The decoded length.
        len: usize,
    },
    /// A key was added under an id that the ring already holds.
    #[error("key id `{id}` is already in the key ring")]
    DuplicateKeyId {
        /// The repeated id.
        id: KeyId,
    },
    /// A key ring configuration named no key.
    #[error("key ring configuration names no key")]
    Empty,
    /// An entry of a key ring configuration was not `key-id:base64-key`.
    #[error("entry is not of the form `key-id:base64-key`")]
    MalformedEntry,
    /// An entry of a key ring configuration was refused; the source says why.
    #[error("key ring entry {position} is invalid")]
    Entry {
        /// The entry's position in the configuration, counted from 1.
        position: usize,
        /// What is wrong with it.
        #[source]
        source: Box<KeyRingError>,
    },
}

impl SealingKey {
    /// The length of a key in bytes.
    pub const LEN: usize = 32;

    /// A key from its raw bytes. The caller should zero its own copy.
    pub fn from_bytes(bytes: [u8; Self::LEN]) -> Self {
        Self(bytes)
    }

    /// A key from its base64 text, standard or URL-safe, with or without padding, and with
    /// surrounding whitespace ignored. It must decode to exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, KeyRingError> {
        let text = text.trim();
        let engine = if text.contains(['-', '_']) {
            &URL_SAFE_PAD_INDIFFERENT
        } else {
            &STANDARD_PAD_INDIFFERENT
        };
        let decoded = Zeroizing::new(
            engine
                .decode(text)
                .map_err(|_| KeyRingError::InvalidBase64)?,
        );

        if decoded.len() != Self::LEN {
            return Err(KeyRingError::WrongKeyLength { len: decoded.len() });
        }
        let mut key = Self([0; Self::LEN]);
        key.0.copy_from_slice(&decoded);
        Ok(key)
    }

    /// A new key from a secure random source.
    pub fn generate(random: &dyn Random) -> Result<Self, RandomError> {
        let mut key = Self([0; Self::LEN]);
        random.fill(&mut key.0)?;
        Ok(key)
    }

    /// The key's bytes. Every call site is a place where the key leaves its type: keep them few
    /// and never log the result.
    pub fn expose_secret(&self) -> &[u8; Self::LEN] {
        &self.0
    }
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealingKey(<redacted>)")
    }
}

impl PartialEq for SealingKey {
    fn eq(&self, other: &Self) -> bool {
        constant_time_eq(&self.0, &other.0)
    }
}

impl Eq for SealingKey {}

impl KeyId {
    /// The longest key id, in bytes.
    pub const MAX_LEN: usize = 32;

    /// Parses a key id.
    pub fn new(id: impl Into<String>) -> Result<Self, KeyRingError> {
        let id = id.into();
        if !is_valid_key_id(id.as_bytes()) {
            return Err(KeyRingError::InvalidKeyId);
        }
        Ok(Self(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id read from a record's header, if it is a valid id.
    pub(crate) fn from_record(bytes: &[u8]) -> Option<Self> {
        if !is_valid_key_id(bytes) {
            return None;
        }
        String::from_utf8(bytes.to_vec()).ok().map(Self)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({:?})", self.0)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl KeyRing {
    /// A ring holding one key, which is current.
    pub fn new(id: KeyId, key: SealingKey) -> Self {
        Self {
            current: (id, key),
            older: Vec::new(),
        }
    }

    /// Adds a newer key, which becomes current; the previous current key stays in the ring to
    /// open the records it sealed. Refuses an id the ring already holds.
    pub fn with_key(mut self, id: KeyId, key: SealingKey) -> Result<Self, KeyRingError> {
        if self.key_ids().any(|known| *known == id) {
            return Err(KeyRingError::DuplicateKeyId { id });
        }

        let previous = std::mem::replace(&mut self.current, (id, key));
        self.older.push(previous);
        Ok(self)
    }

    /// Parses a configuration string of comma-separated `key-id:base64-key` entries, oldest
    /// first: the last entry is the current key. Whitespace around entries is ignored.
    ///
    /// ```
    /// # use scopeup_store::KeyRing;
    /// let ring = KeyRing::parse(
    ///     "2024-06:5l6ZMjRLiYO2AgfIJNcVZCuiGO6TJgSpgz1Ys4POQKk=,\
    ///      2025-01:qmbtvWpPSBJoUdBYFvBZ1cJX3F_QLQKBqy44TVlH2sk",
    /// )?;
    /// assert_eq!(ring.current_key_id().as_str(), "2025-01");
    /// # Ok::<(), scopeup_store::KeyRingError>(())
    /// ```
    pub fn parse(config: &str) -> Result<Self, KeyRingError> {
        let config = config.trim();
        if config.is_empty() {
            return Err(KeyRingError::Empty);
        }

        let mut ring: Option<Self> = None;
        for (index, entry) in config.split(',').enumerate() {
            let at_entry = |source| KeyRingError::Entry {
                position: index + 1,
                source: Box::new(source),
            };
            let (id, key) = parse_entry(entry).map_err(at_entry)?;

            ring = Some(match ring {
                None => Self::new(id, key),
                Some(ring) => ring.with_key(id, key).map_err(at_entry)?,
            });
        }

        ring.ok_or(KeyRingError::Empty)
    }

    /// The id of the key that seals new records.
    pub fn current_key_id(&self) -> &KeyId {
        &self.current.0
    }

    /// The ids of every key in the ring, oldest first, the current one last.
    pub fn key_ids(&self) -> impl Iterator<Item = &KeyId> + '_ {
        self.older
            .iter()
            .chain(std::iter::once(&self.current))
            .map(|(id, _)| id)
    }

    /// The current key and its id.
    pub(crate) fn current(&self) -> (&KeyId, &SealingKey) {
        (&self.current.0, &self.current.1)
    }

    /// The key named `id`, if the ring holds it.
    pub(crate) fn key(&self, id: &KeyId) -> Option<&SealingKey> {
        std::iter::once(&self.current)
            .chain(self.older.iter().rev())
            .find(|(known, _)| known == id)
            .map(|(_, key)| key)
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let older: Vec<&KeyId> = self.older.iter().map(|(id, _)| id).collect();
        f.debug_struct("KeyRing")
            .field("current", &self.current.0)
            .field("older", &older)
            .finish()
    }
}

/// Parses one `key-id:base64-key` entry of a key ring configuration.
fn parse_entry(entry: &str) -> Result<(KeyId, SealingKey), KeyRingError> {
    let Some((id, key)) = entry.trim().split_once(':') else {
        return Err(KeyRingError::MalformedEntry);
    };
    Ok((KeyId::new(id.trim())?, SealingKey::from_base64(key)?))
}

fn is_valid_key_id(id: &[u8]) -> bool {
    (1..=KeyId::MAX_LEN).contains(&id.len())
        && id
            .iter()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Key material cannot be displayed.
    static_assertions::assert_not_impl_any!(SealingKey: fmt::Display);
    static_assertions::assert_not_impl_any!(KeyRing: fmt::Display);

    const KEY_A: &str = "5l6ZMjRLiYO2AgfIJNcVZCuiGO6TJgSpgz1Ys4POQKk=";
    const KEY_B: &str = "qmbtvWpPSBJoUdBYFvBZ1cJX3F/QLQKBqy44TVlH2sk=";

    fn chain(error: &dyn std::error::Error) -> String {
        let mut text = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }

    #[test]
    fn keys_decode_from_standard_and_url_safe_base64() {
        let standard = SealingKey::from_base64(KEY_B).unwrap();
        let url_safe =
            SealingKey::from_base64("qmbtvWpPSBJoUdBYFvBZ1cJX3F_QLQKBqy44TVlH2sk").unwrap();
        let padded_with_space = SealingKey::from_base64(&format!("  {KEY_B}\n")).unwrap();

        assert_eq!(standard, url_safe);
        assert_eq!(standard, padded_with_space);
        assert_eq!(standard.expose_secret()[0], 0xaa);
    }

    #[test]
    fn keys_of_the_wrong_length_or_alphabet_are_refused() {
        assert_eq!(
            SealingKey::from_base64("AAAAAAAAAAAAAAAAAAAAAA==").unwrap_err(),
            KeyRingError::WrongKeyLength { len: 16 }
        );
        assert_eq!(
            SealingKey::from_base64("not base64!").unwrap_err(),
            KeyRingError::InvalidBase64
        );
        assert_eq!(
            SealingKey::from_base64("").unwrap_err(),
            KeyRingError::WrongKeyLength { len: 0 }
        );
    }

    #[test]
    fn key_ids_are_checked() {
        assert!(KeyId::new("2025-01_a").is_ok());
        assert!(KeyId::new("k".repeat(32)).is_ok());
        assert_eq!(KeyId::new("").unwrap_err(), KeyRingError::InvalidKeyId);
        assert_eq!(
            KeyId::new("k".repeat(33)).unwrap_err(),
            KeyRingError::InvalidKeyId
        );
        assert_eq!(KeyId::new("a b").unwrap_err(), KeyRingError::InvalidKeyId);
        assert_eq!(KeyId::new("clé").unwrap_err(), KeyRingError::InvalidKeyId);
    }

    #[test]
    fn the_last_entry_of_a_configuration_is_current() {
        let ring = KeyRing::parse(&format!(" old:{KEY_A} , new:{KEY_B}\n")).unwrap();

        assert_eq!(ring.current_key_id().as_str(), "new");
        let ids: Vec<&str> = ring.key_ids().map(KeyId::as_str).collect();
        assert_eq!(ids, ["old", "new"]);
        let old = KeyId::new("old").unwrap();
        assert_eq!(
            ring.key(&old),
            Some(&SealingKey::from_base64(KEY_A).unwrap())
        );
        assert_eq!(ring.key(&KeyId::new("other").unwrap()), None);
    }

    #[test]
    fn configuration_errors_name_the_entry_and_the_problem() {
        let malformed = "entry is not of the form `key-id:base64-key`";
        let cases = [
            (
                String::new(),
                "key ring configuration names no key".to_owned(),
            ),
            (
                KEY_A.to_owned(),
                format!("key ring entry 1 is invalid: {malformed}"),
            ),
            (
                format!("a:{KEY_A},b:AAAA"),
                "key ring entry 2 is invalid: sealing key decodes to 3 bytes instead of 32"
                    .to_owned(),
            ),
            (
                format!("a:{KEY_A},a:{KEY_B}"),
                "key ring entry 2 is invalid: key id `a` is already in the key ring".to_owned(),
            ),
            (
                format!("a:{KEY_A},,b:{KEY_B}"),
                format!("key ring entry 2 is invalid: {malformed}"),
            ),
            (
                format!("{KEY_A}:a"),
                "key ring entry 1 is invalid: key ids are 1 to 32 ASCII letters, digits, `-` or \
                 `_`"
                .to_owned(),
            ),
            (
                "a:%%%%".to_owned(),
                "key ring entry 1 is invalid: sealing key is not valid base64".to_owned(),
            ),
        ];

        for (config, expected) in cases {
            let error = KeyRing::parse(&config).unwrap_err();
            assert_eq!(chain(&error), expected, "config {config:?}");
        }
    }

    #[test]
    fn adding_a_known_key_id_is_refused() {
        let id = KeyId::new("k1").unwrap();
        let ring = KeyRing::new(id.clone(), SealingKey::from_bytes([1; 32]));

        let error = ring
            .with_key(id.clone(), SealingKey::from_bytes([2; 32]))
            .unwrap_err();
        assert_eq!(error, KeyRingError::DuplicateKeyId { id });
    }

    #[test]
    fn debug_shows_no_key_material() {
        let key = SealingKey::from_bytes([0xab; 32]);
        assert_eq!(format!("{key:?}"), "SealingKey(<redacted>)");

        let ring = KeyRing::new(KeyId::new("k1").unwrap(), key)
            .with_key(
                KeyId::new("k2").unwrap(),
                SealingKey::from_base64(KEY_B).unwrap(),
            )
            .unwrap();
        let debug = format!("{ring:?}");
        assert_eq!(
            debug,
            r#"KeyRing { current: KeyId("k2"), older: [KeyId("k1")] }"#
        );
        assert!(!debug.contains("171") && !debug.contains("ab") && !debug.contains("qmbt"));
    }

    #[test]
    fn generated_keys_come_from_the_random_source() {
        struct Fives;
        impl Random for Fives {
            fn fill(&self, buffer: &mut [u8]) -> Result<(), RandomError> {
                buffer.fill(5);
                Ok(())
            }
        }

        let key = SealingKey::generate(&Fives).unwrap();
        assert_eq!(key.expose_secret(), &[5; 32]);
    }
}

//! Keyed pseudonyms. One 32-byte secret key; each kind of derived value has its own BLAKE3
//! subkey (`derive_key` with a fixed context string), so values of different kinds never
//! collide or correlate, and without the key none can be linked back to its source.

use std::fmt;
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Domain-separation contexts. Changing one changes every derived value of that kind.
const CTX_UID: &str = "deidfs 2026-11 UID pseudonym v1";
const CTX_PATIENT: &str = "deidfs 2026-11 patient pseudonym v1";
const CTX_DATE: &str = "deidfs 2026-11 per-patient date shift v1";
const CTX_PATH: &str = "deidfs 2026-11 path component pseudonym v1";
const CTX_KEY_ID: &str = "deidfs 2026-11 key fingerprint v1";
const CTX_MANIFEST: &str = "deidfs 2026-11 export manifest digest v1";
const CTX_INDEX: &str = "deidfs 2026-12 listing index key v1";

/// Dates move into the past by 1 to this many days (about ten years).
pub const MAX_DAY_SHIFT: i64 = 3652;

/// The secret. Never printed: its `Debug` shows only the one-way fingerprint.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(id {})", Pseudonyms::new(self).key_id())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key file {path}: no such file; create one with `deidfs keygen {path}`")]
    Missing { path: PathBuf },
    #[error("key file {path}: cannot read it ({source}); check the path and its permissions")]
    Read { path: PathBuf, source: io::Error },
    #[error(
        "key file {path} is readable by group or others (mode {mode:04o}); fix it with `chmod 600 {path}`"
    )]
    TooOpen { path: PathBuf, mode: u32 },
    #[error(
        "key file {path} is owned by uid {owner}, not by you (uid {me}); use your own key file"
    )]
    NotOwner { path: PathBuf, owner: u32, me: u32 },
    #[error(
        "key file {path} does not hold a key (expected 64 hex digits); create one with `deidfs keygen NEWFILE`"
    )]
    Format { path: PathBuf },
    #[error(
        "{path} already exists; keygen never overwrites a key (losing it loses the way back to the patients)"
    )]
    Exists { path: PathBuf },
    #[error("cannot write key file {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

impl SecretKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A fresh random key from the operating system's generator.
    pub fn generate() -> Self {
        let mut b = [0u8; 32];
        rand::fill(&mut b);
        Self(b)
    }

    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        let t = text.trim();
        if t.len() != 64 || !t.is_ascii() {
            return None;
        }
        let mut b = [0u8; 32];
        for (i, out) in b.iter_mut().enumerate() {
            *out = u8::from_str_radix(&t[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Self(b))
    }

    /// Loads a key file, refusing one that others could read.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let read_err = |source: io::Error| match source.kind() {
            io::ErrorKind::NotFound => KeyError::Missing {
                path: path.to_path_buf(),
            },
            // Not text: not a key file deidfs wrote.
            io::ErrorKind::InvalidData => KeyError::Format {
                path: path.to_path_buf(),
            },
            _ => KeyError::Read {
                path: path.to_path_buf(),
                source,
            },
        };
        let meta = std::fs::metadata(path).map_err(read_err)?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::TooOpen {
                path: path.to_path_buf(),
                mode,
            });
        }
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if meta.uid() != me {
            return Err(KeyError::NotOwner {
                path: path.to_path_buf(),
                owner: meta.uid(),
                me,
            });
        }
        let text = std::fs::read_to_string(path).map_err(read_err)?;
        Self::from_hex(&text).ok_or_else(|| KeyError::Format {
            path: path.to_path_buf(),
        })
    }

    /// Writes a new random key to `path` with mode 0600; never overwrites.
    pub fn generate_file(path: &Path) -> Result<Self, KeyError> {
        let key = Self::generate();
        let mut f =
            crate::io::create_private(path, crate::io::Private::New).map_err(
                |source| match source.kind() {
                    io::ErrorKind::AlreadyExists => KeyError::Exists {
                        path: path.to_path_buf(),
                    },
                    _ => KeyError::Write {
                        path: path.to_path_buf(),
                        source,
                    },
                },
            )?;
        writeln!(f, "{}", key.to_hex())
            .and_then(|_| f.sync_all())
            .map_err(|source| KeyError::Write {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(key)
    }
}

/// Every derivation of one key. Cheap to clone; holds subkeys only.
#[derive(Clone)]
pub struct Pseudonyms {
    uid: [u8; 32],
    patient: [u8; 32],
    date: [u8; 32],
    path: [u8; 32],
    manifest: [u8; 32],
    index: [u8; 32],
    key_id: String,
}

impl fmt::Debug for Pseudonyms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pseudonyms(key id {})", self.key_id)
    }
}

/// Crockford base32: no I, L, O, U; safe in file names and every DICOM string VR.
const BASE32: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

fn base32(bytes: &[u8], chars: usize) -> String {
    let mut out = String::with_capacity(chars);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        if out.len() == chars {
            break;
        }
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 && out.len() < chars {
            bits -= 5;
            out.push(BASE32[((acc >> bits) & 31) as usize] as char);
        }
        acc &= (1 << bits) - 1;
    }
    out
}

impl Pseudonyms {
    pub fn new(key: &SecretKey) -> Self {
        let id = blake3::derive_key(CTX_KEY_ID, &key.0);
        Self {
            uid: blake3::derive_key(CTX_UID, &key.0),
            patient: blake3::derive_key(CTX_PATIENT, &key.0),
            date: blake3::derive_key(CTX_DATE, &key.0),
            path: blake3::derive_key(CTX_PATH, &key.0),
            manifest: blake3::derive_key(CTX_MANIFEST, &key.0),
            index: blake3::derive_key(CTX_INDEX, &key.0),
            key_id: base32(&id[..8], 12),
        }
    }

    /// A one-way fingerprint of the key, safe to log and to use in cache keys.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// `2.25.<decimal of 128 bits>`: at most 44 characters, no leading zero.
    pub fn uid(&self, uid: &str) -> String {
        let mut out = String::with_capacity(44);
        self.uid_into(uid, &mut out);
        out
    }

    /// [`Pseudonyms::uid`], appended to `out`.
    pub fn uid_into(&self, uid: &str, out: &mut String) {
        use std::fmt::Write;
        let h = blake3::keyed_hash(&self.uid, uid.as_bytes());
        let mut n = [0u8; 16];
        n.copy_from_slice(&h.as_bytes()[..16]);
        // Never zero, so the component has no leading zero and is never "0".
        let _ = write!(out, "2.25.{}", u128::from_be_bytes(n).max(1));
    }

    /// A 12-character token standing for one patient (from their source identity).
    pub fn patient_token(&self, identity: &[u8]) -> String {
        base32(blake3::keyed_hash(&self.patient, identity).as_bytes(), 12)
    }

    /// Whole days (negative: into the past) that every date of this patient moves by.
    pub fn day_shift(&self, identity: &[u8]) -> i64 {
        let h = blake3::keyed_hash(&self.date, identity);
        let mut n = [0u8; 8];
        n.copy_from_slice(&h.as_bytes()[..8]);
        -((u64::from_be_bytes(n) % MAX_DAY_SHIFT as u64) as i64 + 1)
    }

    /// A keyed digest of what an exported file was made from (its record in the export's
    /// manifest reveals nothing without the key).
    pub fn manifest_digest(&self, data: &[u8]) -> String {
        base32(blake3::keyed_hash(&self.manifest, data).as_bytes(), 26)
    }

    /// The key of the listing index (`fs::index`): it names and authenticates its records.
    pub fn index_key(&self) -> &[u8; 32] {
        &self.index
    }

    /// A file-name-safe token for one path component, chained through its parent's token
    /// so equal names in different folders differ.
    pub fn path_token(&self, parent: &str, name: &[u8], chars: usize) -> String {
        let mut h = blake3::Hasher::new_keyed(&self.path);
        h.update(&(parent.len() as u64).to_le_bytes());
        h.update(parent.as_bytes());
        h.update(name);
        base32(h.finalize().as_bytes(), chars.min(51))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> (Pseudonyms, Pseudonyms) {
        (
            Pseudonyms::new(&SecretKey::from_bytes([1; 32])),
            Pseudonyms::new(&SecretKey::from_bytes([2; 32])),
        )
    }

    #[test]
    fn uid_is_valid_and_keyed() {
        let (a, b) = keys();
        let u = a.uid("1.2.3.4");
        assert!(u.starts_with("2.25.") && u.len() <= 64, "{u}");
        assert!(u[5..].bytes().all(|c| c.is_ascii_digit()) && !u[5..].starts_with('0'));
        assert_eq!(u, a.uid("1.2.3.4"));
        assert_ne!(u, b.uid("1.2.3.4"));
        assert_ne!(u, a.uid("1.2.3.5"));
    }

    #[test]
    fn kinds_are_separated() {
        let (a, _) = keys();
        // The same input gives unrelated values for different kinds.
        assert_ne!(a.patient_token(b"X"), a.path_token("", b"X", 12));
    }

    #[test]
    fn base32_is_crockford() {
        assert_eq!(base32(&[0xFF; 8], 12), "ZZZZZZZZZZZZ");
        assert_eq!(base32(&[0; 8], 12), "000000000000");
        assert_eq!(base32(&[0b1000_0100, 0b0010_0000], 3), "GGG");
    }

    #[test]
    fn hex_round_trip_and_rejects() {
        let k = SecretKey::generate();
        assert_eq!(SecretKey::from_hex(&k.to_hex()).unwrap().0, k.0);
        assert!(SecretKey::from_hex("zz").is_none());
        assert!(SecretKey::from_hex(&"g".repeat(64)).is_none());
    }

    #[test]
    fn debug_never_shows_the_key() {
        let k = SecretKey::from_bytes([0xAB; 32]);
        assert!(!format!("{k:?}").contains("ab"));
        assert!(!format!("{k:?}").to_lowercase().contains("abab"));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn uids_are_valid_dicom_uids(key in any::<[u8; 32]>(), uid in "[0-9]{1,20}(\\.[0-9]{1,10}){0,8}") {
            let u = Pseudonyms::new(&SecretKey::from_bytes(key)).uid(&uid);
            prop_assert!(u.len() <= 64);
            prop_assert!(u.starts_with("2.25."));
            let n = &u[5..];
            prop_assert!(n.bytes().all(|c| c.is_ascii_digit()) && !n.starts_with('0'));
        }

        #[test]
        fn distinct_uids_stay_distinct(key in any::<[u8; 32]>(), a in "[0-9.]{1,30}", b in "[0-9.]{1,30}") {
            prop_assume!(a != b);
            let p = Pseudonyms::new(&SecretKey::from_bytes(key));
            prop_assert_ne!(p.uid(&a), p.uid(&b));
        }

        #[test]
        fn day_shift_is_in_range_and_stable(key in any::<[u8; 32]>(), id in proptest::collection::vec(any::<u8>(), 0..40)) {
            let p = Pseudonyms::new(&SecretKey::from_bytes(key));
            let d = p.day_shift(&id);
            prop_assert!((-MAX_DAY_SHIFT..=-1).contains(&d));
            prop_assert_eq!(d, p.day_shift(&id));
        }
    }
}

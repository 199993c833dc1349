//! Secrets at rest: the master key, keyed hashes of client secrets and other bearer values,
//! encryption of values that must be read back (webhook secret tokens, signing keys), password
//! hashing, and fresh random values.
//!
//! Everything here is keyed by sub-keys derived from `ACCORD_MASTER_KEY`, so a copy of the database
//! alone is not enough to check a guessed client secret offline or to read an encrypted value.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use accord_core::ids::Secret;
use argon2::password_hash::PasswordHasher;
use argon2::password_hash::phc::{Output, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::Aead;
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::StoreError;

/// The file the embedded default keeps its generated master key in.
pub const MASTER_KEY_FILE: &str = "master.key";

/// How to make a master key, quoted in every error about one.
pub const MAKE_A_KEY: &str =
    "make one with `openssl rand -base64 32` (32 random bytes in base64) and set ACCORD_MASTER_KEY";

/// 32 random bytes from which every other key is derived.
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    /// Parses standard or URL-safe base64 (padding optional) of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, StoreError> {
        let text = text.trim();
        let bytes = [&STANDARD, &URL_SAFE]
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .or_else(|| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok())
            .or_else(|| {
                base64::engine::general_purpose::STANDARD_NO_PAD
                    .decode(text.trim_end_matches('='))
                    .ok()
            })
            .ok_or_else(|| {
                StoreError::Config(format!("ACCORD_MASTER_KEY is not base64; {MAKE_A_KEY}"))
            })?;
        let bytes = Zeroizing::new(bytes);
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            StoreError::Config(format!(
                "ACCORD_MASTER_KEY must decode to 32 bytes, not {}; {MAKE_A_KEY}",
                bytes.len()
            ))
        })?;
        Ok(MasterKey(Zeroizing::new(key)))
    }

    pub fn generate() -> Self {
        MasterKey(Zeroizing::new(random_bytes::<32>()))
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0.as_slice())
    }

    /// Reads `dir/master.key`, or creates it (mode 0600) with a fresh key when it is missing.
    pub fn load_or_create(dir: &Path) -> Result<(Self, PathBuf), StoreError> {
        let path = dir.join(MASTER_KEY_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => Ok((
                Self::from_base64(&text)
                    .map_err(|e| StoreError::Config(format!("{}: {e}", path.display())))?,
                path,
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Config(format!(
                        "cannot create data directory {}: {e}",
                        dir.display()
                    ))
                })?;
                let key = Self::generate();
                write_private_file(&path, format!("{}\n", key.to_base64()).as_bytes())?;
                Ok((key, path))
            }
            Err(e) => Err(StoreError::Config(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    /// A sub-key for one purpose, so no two uses ever share key material.
    fn derive(&self, purpose: &str) -> Zeroizing<[u8; 32]> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.0.as_slice())
            .expect("HMAC takes keys of any length");
        mac.update(b"accord/");
        mac.update(purpose.as_bytes());
        Zeroizing::new(mac.finalize().into_bytes().into())
    }
}

fn write_private_file(path: &Path, contents: &[u8]) -> Result<(), StoreError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| StoreError::Config(format!("cannot create {}: {e}", path.display())))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| StoreError::Config(format!("cannot write {}: {e}", path.display())))
}

/// The keys derived from the master key, and the password-hashing cost.
pub struct Keys {
    hash_key: Zeroizing<[u8; 32]>,
    successor_key: Zeroizing<[u8; 32]>,
    mac_key: Zeroizing<[u8; 32]>,
    cipher: XChaCha20Poly1305,
    check: [u8; 32],
    password_params: Params,
    /// A PHC hash of a random password, made once at start with the configured cost: unknown
    /// emails are verified against it, so they cost exactly what a known email costs.
    dummy_password_hash: String,
    password_work: PasswordWorkCounters,
}

/// How much Argon2id work this process has done, for tests and operators: a sign-in must cost
/// the same whether or not the email exists, and the server must never run more at once than
/// its password-check workers allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PasswordWork {
    /// Passwords hashed (new and changed passwords, and the dummy hash at start).
    pub hashes: u64,
    /// Passwords verified against a stored hash (every sign-in attempt that reaches the check).
    pub verifications: u64,
    /// The most Argon2id runs (hashes and verifications) that were ever in progress at once.
    pub peak_concurrent: usize,
}

#[derive(Default)]
struct PasswordWorkCounters {
    hashes: AtomicU64,
    verifications: AtomicU64,
    running: AtomicUsize,
    peak_concurrent: AtomicUsize,
}

impl PasswordWorkCounters {
    /// Counts one Argon2id run in progress until the returned guard drops.
    fn run(&self, counter: &AtomicU64) -> RunningArgon2<'_> {
        counter.fetch_add(1, Ordering::Relaxed);
        let running = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak_concurrent.fetch_max(running, Ordering::SeqCst);
        RunningArgon2(&self.running)
    }
}

struct RunningArgon2<'a>(&'a AtomicUsize);

impl Drop for RunningArgon2<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys([redacted])")
    }
}

/// Argon2id cost. Production uses OWASP's recommendation; tests use the minimum so they stay fast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordCost {
    pub memory_kib: u32,
    pub iterations: u32,
}

impl PasswordCost {
    /// Argon2id, 12 MiB, 3 passes, 1 lane: one of the settings OWASP's password storage cheat
    /// sheet recommends as equally strong (19 MiB with 2 passes, 12 MiB with 3, 9 MiB with 4 …,
    /// trading memory for passes). The server keeps one working memory per password-check worker
    /// (a core each), so this is the one that bounds its memory lowest for about the same CPU per
    /// check (36 MiB-passes against 38) without going to the cheaper-to-attack end of the list.
    pub const DEFAULT: PasswordCost = PasswordCost {
        memory_kib: 12 * 1024,
        iterations: 3,
    };
    /// The cheapest valid setting, for test suites only.
    pub const TESTING: PasswordCost = PasswordCost {
        memory_kib: 8,
        iterations: 1,
    };
}

impl Keys {
    pub fn new(master: &MasterKey, cost: PasswordCost) -> Result<Self, StoreError> {
        let enc_key = master.derive("encrypt/v1");
        let cipher = XChaCha20Poly1305::new_from_slice(enc_key.as_slice())
            .map_err(|_| StoreError::Config("cannot derive the encryption key".into()))?;
        let password_params = Params::new(cost.memory_kib, cost.iterations, 1, None)
            .map_err(|e| StoreError::Config(format!("invalid password hashing cost: {e}")))?;
        let mut keys = Keys {
            hash_key: master.derive("secret-hash/v1"),
            successor_key: master.derive("refresh-successor/v1"),
            mac_key: master.derive("server-mac/v1"),
            cipher,
            check: *master.derive("key-check/v1"),
            password_params,
            dummy_password_hash: String::new(),
            password_work: PasswordWorkCounters::default(),
        };
        keys.dummy_password_hash = keys.hash_password(&new_secret())?;
        Ok(keys)
    }

    /// The PHC hash unknown emails are verified against (of a random password nobody knows).
    pub fn dummy_password_hash(&self) -> &str {
        &self.dummy_password_hash
    }

    /// The Argon2id work done so far.
    pub fn password_work(&self) -> PasswordWork {
        let counters = &self.password_work;
        PasswordWork {
            hashes: counters.hashes.load(Ordering::Relaxed),
            verifications: counters.verifications.load(Ordering::Relaxed),
            peak_concurrent: counters.peak_concurrent.load(Ordering::SeqCst),
        }
    }

    /// A value stored in the database to notice, at start, a master key that differs from the one
    /// the database was created with (instead of failing every secret check later).
    pub fn check_value(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.check)
    }

    /// The keyed hash stored for a client secret, refresh token, code or session id. Fast on
    /// purpose: these are 128+ bit random values, so a slow hash would add nothing but latency.
    pub fn hash_secret(&self, secret: &str) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.hash_key.as_slice())
            .expect("HMAC takes keys of any length");
        mac.update(secret.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// The one successor of a refresh token: derived from it, so every concurrent refresh of the
    /// same parent computes the same successor, and only a holder of the parent can.
    pub fn refresh_successor(&self, parent: &str) -> Secret {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.successor_key.as_slice())
            .expect("HMAC takes keys of any length");
        mac.update(parent.as_bytes());
        Secret::new(URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    /// A keyed MAC for the server's own tokens (CSRF tokens, signed form state), separated by
    /// purpose so a value made for one use is never accepted for another.
    pub fn mac(&self, purpose: &str, data: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.mac_key.as_slice())
            .expect("HMAC takes keys of any length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// Checks a MAC made by [`Keys::mac`] in constant time.
    pub fn mac_matches(&self, purpose: &str, data: &[u8], presented: &[u8]) -> bool {
        bool::from(self.mac(purpose, data).as_slice().ct_eq(presented))
    }

    /// Compares a presented secret with a stored keyed hash in constant time.
    pub fn secret_matches(&self, presented: &str, stored_hash: &[u8]) -> bool {
        bool::from(self.hash_secret(presented).as_slice().ct_eq(stored_hash))
    }

    /// Encrypts a value that must be read back later (nonce ‖ ciphertext).
    pub fn encrypt(&self, plaintext: &[u8]) -> Vec<u8> {
        let nonce_bytes = random_bytes::<24>();
        let nonce = XNonce::from(nonce_bytes);
        let ciphertext = self
            .cipher
            .encrypt(&nonce, plaintext)
            .expect("XChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&ciphertext);
        out
    }

    pub fn decrypt(&self, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        if sealed.len() < 24 {
            return Err(StoreError::Corrupt(
                "an encrypted value is too short".into(),
            ));
        }
        let (nonce, ciphertext) = sealed.split_at(24);
        let nonce = XNonce::try_from(nonce)
            .map_err(|_| StoreError::Corrupt("an encrypted value has a bad nonce".into()))?;
        self.cipher
            .decrypt(&nonce, ciphertext)
            .map(Zeroizing::new)
            .map_err(|_| {
                StoreError::Corrupt(
                    "an encrypted value does not open with this ACCORD_MASTER_KEY".into(),
                )
            })
    }

    /// Hashes a password with Argon2id into a PHC string.
    pub fn hash_password(&self, password: &Secret) -> Result<String, StoreError> {
        let _running = self.password_work.run(&self.password_work.hashes);
        let argon = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            self.password_params.clone(),
        );
        argon
            .hash_password(password.expose().as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| StoreError::Config(format!("password hashing failed: {e}")))
    }

    /// Checks a password against a stored PHC string (the string carries its own cost), in
    /// memory allocated for this one check.
    pub fn password_matches(&self, password: &Secret, phc: &str) -> bool {
        self.password_matches_in(&mut PasswordMemory::default(), password, phc)
    }

    /// Checks a password against a stored PHC string in `memory`, which a thread that checks many
    /// passwords keeps from one check to the next.
    pub fn password_matches_in(
        &self,
        memory: &mut PasswordMemory,
        password: &Secret,
        phc: &str,
    ) -> bool {
        let Ok(parsed) = PasswordHash::new(phc) else {
            return false;
        };
        let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
            return false;
        };
        let Ok(params) = Params::try_from(&parsed) else {
            return false;
        };
        let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
            return false;
        };
        let version = match parsed.version.map(Version::try_from) {
            None => Version::default(),
            Some(Ok(version)) => version,
            Some(Err(_)) => return false,
        };
        let mut computed = [0u8; Output::MAX_LENGTH];
        let Some(computed) = computed.get_mut(..expected.len()) else {
            return false;
        };
        let blocks = memory.blocks(params.block_count());
        let _running = self.password_work.run(&self.password_work.verifications);
        Argon2::new(algorithm, version, params)
            .hash_password_into_with_memory(password.expose().as_bytes(), salt, computed, blocks)
            .is_ok()
            && bool::from(computed.ct_eq(expected.as_bytes()))
    }
}

/// Working memory for Argon2id verifications, kept by a thread that runs many of them (the
/// server's password-check workers) and grown to the largest cost it met. Allocating the memory per
/// check instead left the allocator holding freed blocks in fragmented arenas: hundreds of MiB
/// that a sign-in flood never gave back, with only two checks ever running at once.
#[derive(Default)]
pub struct PasswordMemory(Vec<Block>);

impl PasswordMemory {
    /// The first `count` blocks, growing the memory if it is smaller.
    fn blocks(&mut self, count: usize) -> &mut [Block] {
        if self.0.len() < count {
            self.0.resize(count, Block::new());
        }
        &mut self.0[..count]
    }

    /// How many bytes it holds.
    pub fn bytes(&self) -> usize {
        self.0.len() * Block::SIZE
    }
}

/// `N` bytes from the operating system's generator.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random generator is available");
    bytes
}

/// 16 bytes of the operating system's generator for an id, served from a per-thread buffer
/// refilled 4 KiB at a time: an id is made for every token response (its `jti`) and every stored
/// row, where a system call each was measurable (and let the scheduler switch threads). Secrets
/// come straight from the generator ([`random_bytes`]).
fn id_bytes() -> [u8; 16] {
    const SIZE: usize = 4096;
    thread_local! {
        static BUFFER: std::cell::RefCell<(Box<[u8; SIZE]>, usize)> =
            std::cell::RefCell::new((Box::new([0; SIZE]), SIZE));
    }
    BUFFER.with_borrow_mut(|(buffer, used)| {
        if *used == SIZE {
            getrandom::fill(&mut buffer[..])
                .expect("the operating system's random generator is available");
            *used = 0;
        }
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&buffer[*used..*used + 16]);
        *used += 16;
        bytes
    })
}

/// Random bytes (from `draw`) in URL-safe base64 that does not start with `-`, so a generated
/// value is never mistaken for a command-line flag (`accord app show -x…`).
fn random_text<const N: usize>(draw: fn() -> [u8; N]) -> String {
    loop {
        let text = URL_SAFE_NO_PAD.encode(draw());
        if !text.starts_with('-') {
            return text;
        }
    }
}

/// A new id: 128 random bits as 22 URL-safe characters (never starting with `-`).
pub fn new_id() -> String {
    random_text(id_bytes)
}

/// A new bearer secret (client secret, refresh token, …): 256 random bits, 43 URL-safe characters,
/// all within the client-credential alphabet.
pub fn new_secret() -> Secret {
    Secret::new(random_text(random_bytes::<32>))
}

/// A new client id: 22 URL-safe characters.
pub fn new_client_id() -> String {
    new_id()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys::new(&MasterKey::generate(), PasswordCost::TESTING).unwrap()
    }

    #[test]
    fn keyed_hashes_depend_on_the_master_key() {
        let (a, b) = (keys(), keys());
        assert_ne!(a.hash_secret("s3cret"), b.hash_secret("s3cret"));
        assert!(a.secret_matches("s3cret", &a.hash_secret("s3cret")));
        assert!(!a.secret_matches("s3cret!", &a.hash_secret("s3cret")));
        assert!(!a.secret_matches("s3cret", &[]));
    }

    #[test]
    fn refresh_successors_are_deterministic_and_keyed() {
        let (a, b) = (keys(), keys());
        assert_eq!(a.refresh_successor("p"), a.refresh_successor("p"));
        assert_ne!(a.refresh_successor("p"), a.refresh_successor("q"));
        assert_ne!(a.refresh_successor("p"), b.refresh_successor("p"));
        assert!(a.mac_matches("csrf", b"x", &a.mac("csrf", b"x")));
        assert!(!a.mac_matches("state", b"x", &a.mac("csrf", b"x")));
    }

    #[test]
    fn encryption_round_trips_and_rejects_other_keys() {
        let (a, b) = (keys(), keys());
        let sealed = a.encrypt(b"webhook token");
        assert!(!sealed.windows(13).any(|w| w == b"webhook token"));
        assert_eq!(a.decrypt(&sealed).unwrap().as_slice(), b"webhook token");
        assert!(b.decrypt(&sealed).is_err());
        assert!(a.decrypt(&sealed[..10]).is_err());
    }

    #[test]
    fn passwords_hash_with_argon2id() {
        let k = keys();
        let hash = k.hash_password(&Secret::new("correct horse")).unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(k.password_matches(&Secret::new("correct horse"), &hash));
        assert!(!k.password_matches(&Secret::new("wrong horse"), &hash));
        assert!(!k.password_matches(&Secret::new("x"), "not a phc string"));
    }

    #[test]
    fn verifying_in_kept_memory_agrees_with_the_phc_verifier_at_every_cost() {
        use argon2::password_hash::PasswordVerifier;
        let mut memory = PasswordMemory::default();
        for (memory_kib, iterations) in [(64, 3), (8, 1), (256, 2), (32, 1)] {
            let k = Keys::new(
                &MasterKey::generate(),
                PasswordCost {
                    memory_kib,
                    iterations,
                },
            )
            .unwrap();
            let phc = k.hash_password(&Secret::new("correct horse")).unwrap();
            let parsed = PasswordHash::new(&phc).unwrap();
            for guess in ["correct horse", "wrong horse", ""] {
                let reference = Argon2::default()
                    .verify_password(guess.as_bytes(), &parsed)
                    .is_ok();
                assert_eq!(
                    k.password_matches_in(&mut memory, &Secret::new(guess), &phc),
                    reference,
                    "{guess:?} at m={memory_kib} t={iterations}"
                );
                assert_eq!(k.password_matches(&Secret::new(guess), &phc), reference);
            }
        }
        assert_eq!(
            memory.bytes(),
            256 * 1024,
            "grown to the largest cost, once"
        );
        let k = keys();
        let argon2i = k
            .dummy_password_hash()
            .replacen("$argon2id$", "$argon2i$", 1);
        assert!(!k.password_matches_in(&mut memory, &Secret::new("x"), &argon2i));
        assert!(!k.password_matches_in(
            &mut memory,
            &Secret::new("x"),
            "$argon2id$v=19$m=8,t=1,p=1$"
        ));
    }

    #[test]
    fn the_dummy_hash_has_the_configured_cost_and_is_counted_as_work() {
        let k = keys();
        assert!(
            k.dummy_password_hash()
                .starts_with("$argon2id$v=19$m=8,t=1,p=1$"),
            "{}",
            k.dummy_password_hash()
        );
        assert_ne!(k.dummy_password_hash(), keys().dummy_password_hash());
        assert_eq!(k.password_work().hashes, 1, "the dummy hash, made at start");
        k.password_matches(&Secret::new("guess"), k.dummy_password_hash());
        k.password_matches(&Secret::new("guess"), "not a phc string");
        let work = k.password_work();
        assert_eq!((work.hashes, work.verifications), (1, 1));
        assert_eq!(work.peak_concurrent, 1);
    }

    #[test]
    fn master_keys_parse_both_base64_alphabets_and_refuse_wrong_lengths() {
        let key = MasterKey::generate();
        let text = key.to_base64();
        assert!(MasterKey::from_base64(&text).is_ok());
        assert!(MasterKey::from_base64(&text.replace('+', "-").replace('/', "_")).is_ok());
        let err = MasterKey::from_base64("c2hvcnQ=").unwrap_err().to_string();
        assert!(err.contains("32 bytes"), "{err}");
        assert!(MasterKey::from_base64("%%%").is_err());
    }

    #[test]
    fn the_generated_master_key_file_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (first, path) = MasterKey::load_or_create(dir.path()).unwrap();
        let (second, _) = MasterKey::load_or_create(dir.path()).unwrap();
        assert_eq!(first.to_base64(), second.to_base64());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn generated_values_have_the_documented_shapes() {
        assert_eq!(new_id().len(), 22);
        assert!(
            (0..2000).all(|_| !new_id().starts_with('-')),
            "ids never look like flags"
        );
        let secret = new_secret();
        assert_eq!(secret.expose().len(), 43);
        assert!(accord_core::ids::check_credential("secret", secret.expose()).is_ok());
    }

    #[test]
    fn ids_stay_distinct_across_buffer_refills_and_threads() {
        // 1,000 ids a thread: several refills of each thread's 256-id buffer.
        let draw = || (0..1000).map(|_| new_id()).collect::<Vec<_>>();
        let other = std::thread::spawn(draw);
        let mut ids: std::collections::HashSet<String> = draw().into_iter().collect();
        ids.extend(other.join().unwrap());
        assert_eq!(ids.len(), 2000);
    }
}

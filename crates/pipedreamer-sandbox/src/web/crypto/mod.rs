//! The natives behind Web Crypto (`crypto.js`) and `node:crypto`: stateless functions from
//! (algorithm, key bytes, data) to a result, backed by *ring* (digests, HMAC, AES-GCM, RSA
//! PKCS#1 v1.5, ECDSA P-256/P-384, Ed25519; already linked through rustls) and RustCrypto's DER
//! crates for key formats (`keys`). `md-5` serves `node:crypto`'s `createHash("md5")` only.
//!
//! Nothing here keeps state: a `CryptoKey`'s material lives in a private field of an object its
//! run created and comes in with every call, so no key can reach another run. Each native runs to
//! completion synchronously (Node's hashing API is synchronous, and the work is bounded: RSA
//! moduli are capped, everything else is linear in input bytes that already count toward the
//! run's memory limit); `crypto.js` wraps them in promises.
//!
//! Errors carry a [`ErrorName`] that `crypto.js` turns into the `DOMException` the Web Crypto
//! spec names (`NotSupportedError`, `DataError`, `OperationError`, …).

mod keys;
mod sign;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use md5::Digest as _;
use ring::rand::{SecureRandom, SystemRandom};
use ring::{aead, digest, hmac};
use rquickjs::{ArrayBuffer, Ctx, Exception, Function, Object, Result, TypedArray};
use std::str::FromStr;

/// The `DOMException` names this module reports; `crypto.js` builds the exception.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorName {
    NotSupported,
    Data,
    Operation,
    InvalidAccess,
    Quota,
}

impl ErrorName {
    fn as_str(self) -> &'static str {
        match self {
            Self::NotSupported => "NotSupportedError",
            Self::Data => "DataError",
            Self::Operation => "OperationError",
            Self::InvalidAccess => "InvalidAccessError",
            Self::Quota => "QuotaExceededError",
        }
    }
}

/// A failed crypto operation: which `DOMException` and why (said for the node author).
#[derive(Debug)]
pub(crate) struct CryptoError {
    name: ErrorName,
    message: String,
}

impl CryptoError {
    pub(crate) fn new(name: ErrorName, message: impl Into<String>) -> Self {
        Self {
            name,
            message: message.into(),
        }
    }
    pub(crate) fn data(message: impl Into<String>) -> Self {
        Self::new(ErrorName::Data, message)
    }
    pub(crate) fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorName::NotSupported, message)
    }
    pub(crate) fn operation(message: impl Into<String>) -> Self {
        Self::new(ErrorName::Operation, message)
    }

    /// Throws this error as a JavaScript `Error` whose `name` is the DOMException name.
    fn throw(self, ctx: &Ctx<'_>) -> rquickjs::Error {
        match Exception::from_message(ctx.clone(), &self.message) {
            Ok(e) => match e.set("name", self.name.as_str()) {
                Ok(()) => e.throw(),
                Err(err) => err,
            },
            Err(err) => err,
        }
    }
}

pub(crate) type CryptoResult<T> = std::result::Result<T, CryptoError>;

/// A digest algorithm of Web Crypto (SHA-1 and SHA-2), by its normalized name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl FromStr for Hash {
    type Err = CryptoError;
    fn from_str(name: &str) -> CryptoResult<Self> {
        [Self::Sha1, Self::Sha256, Self::Sha384, Self::Sha512]
            .into_iter()
            .find(|h| h.name() == name)
            .ok_or_else(|| {
                CryptoError::unsupported(format!(
                    "the hash `{name}` is not supported (use SHA-1, SHA-256, SHA-384 or SHA-512)"
                ))
            })
    }
}

impl Hash {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA-1",
            Self::Sha256 => "SHA-256",
            Self::Sha384 => "SHA-384",
            Self::Sha512 => "SHA-512",
        }
    }
    fn digest_algorithm(self) -> &'static digest::Algorithm {
        match self {
            Self::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha256 => &digest::SHA256,
            Self::Sha384 => &digest::SHA384,
            Self::Sha512 => &digest::SHA512,
        }
    }
    fn hmac_algorithm(self) -> hmac::Algorithm {
        match self {
            Self::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha256 => hmac::HMAC_SHA256,
            Self::Sha384 => hmac::HMAC_SHA384,
            Self::Sha512 => hmac::HMAC_SHA512,
        }
    }
}

/// What `digest` accepts: Web Crypto's hashes, plus MD5 for `node:crypto`'s `createHash` (never
/// offered by `crypto.subtle`, which has no MD5).
#[derive(Clone, Copy, Debug)]
enum DigestAlgorithm {
    Md5,
    Web(Hash),
}

impl FromStr for DigestAlgorithm {
    type Err = CryptoError;
    fn from_str(name: &str) -> CryptoResult<Self> {
        if name == "MD5" {
            Ok(Self::Md5)
        } else {
            name.parse().map(Self::Web)
        }
    }
}

/// Largest `getRandomValues` request, per the Web Crypto spec.
const RANDOM_QUOTA: usize = 65536;

/// The realm's source of randomness: the OS CSPRNG (`getrandom`), nothing seeded or stored.
fn rng() -> SystemRandom {
    SystemRandom::new()
}

fn random_bytes(len: usize) -> CryptoResult<Vec<u8>> {
    let mut bytes = vec![0; len];
    rng()
        .fill(&mut bytes)
        .map_err(|_| CryptoError::operation("the system random number generator failed"))?;
    Ok(bytes)
}

/// A copy of a `Uint8Array`'s bytes (`crypto.js` passes a copy of every BufferSource).
pub(crate) fn bytes_of(array: &TypedArray<'_, u8>) -> CryptoResult<Vec<u8>> {
    // SAFETY: no JavaScript runs while the slice is alive; it is copied at once.
    #[allow(unsafe_code)]
    let bytes = unsafe { array.as_bytes() };
    bytes
        .map(<[u8]>::to_vec)
        .ok_or_else(|| CryptoError::data("the buffer is detached"))
}

fn digest_bytes(algorithm: DigestAlgorithm, data: &[u8]) -> Vec<u8> {
    match algorithm {
        DigestAlgorithm::Md5 => md5::Md5::digest(data).to_vec(),
        DigestAlgorithm::Web(hash) => digest::digest(hash.digest_algorithm(), data)
            .as_ref()
            .to_vec(),
    }
}

fn hmac_sign(hash: Hash, key: &[u8], data: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hash.hmac_algorithm(), key), data)
        .as_ref()
        .to_vec()
}

fn hmac_verify(hash: Hash, key: &[u8], data: &[u8], signature: &[u8]) -> bool {
    hmac::verify(&hmac::Key::new(hash.hmac_algorithm(), key), data, signature).is_ok()
}

/// `timingSafeEqual`: equal lengths are the caller's check (Node throws on a mismatch).
fn constant_time_equal(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// AES-GCM as Web Crypto defines it: 128- or 256-bit keys (ring has no AES-192), a 96-bit iv
/// (ring's only nonce size, and the one every JWE/TLS user sends) and tags of 32 to 128 bits.
fn aes_gcm(
    encrypt: bool,
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    tag_bits: u32,
    data: &[u8],
) -> CryptoResult<Vec<u8>> {
    let algorithm = match key.len() {
        16 => &aead::AES_128_GCM,
        32 => &aead::AES_256_GCM,
        24 => {
            return Err(CryptoError::unsupported(
                "AES-192 is not supported; use a 128- or 256-bit AES-GCM key",
            ));
        }
        n => {
            return Err(CryptoError::data(format!(
                "an AES key has 16 or 32 bytes, not {n}"
            )));
        }
    };
    if !matches!(tag_bits, 32 | 64 | 96 | 104 | 112 | 120 | 128) {
        return Err(CryptoError::operation(format!(
            "tagLength {tag_bits} is not one of 32, 64, 96, 104, 112, 120, 128"
        )));
    }
    let nonce = |iv: &[u8]| {
        aead::Nonce::try_assume_unique_for_key(iv).map_err(|_| {
            CryptoError::unsupported(format!(
                "AES-GCM needs a 12-byte iv here, not {} bytes",
                iv.len()
            ))
        })
    };
    let key = aead::LessSafeKey::new(
        aead::UnboundKey::new(algorithm, key).map_err(|_| CryptoError::data("bad AES key"))?,
    );
    let tag_len = (tag_bits / 8) as usize;
    // GCM's body is CTR mode, the same keystream both ways: sealing a ciphertext yields its
    // plaintext (its tag discarded). ring checks only full tags, so a truncated tag is checked by
    // recomputing the full one over the recovered plaintext and comparing its first bytes.
    let seal = |input: &[u8]| -> CryptoResult<(Vec<u8>, aead::Tag)> {
        let mut buf = input.to_vec();
        let tag = key
            .seal_in_place_separate_tag(nonce(iv)?, aead::Aad::from(aad), &mut buf)
            .map_err(|_| CryptoError::operation("AES-GCM input is too long"))?;
        Ok((buf, tag))
    };
    if encrypt {
        let (mut out, tag) = seal(data)?;
        out.extend_from_slice(&tag.as_ref()[..tag_len]);
        return Ok(out);
    }
    let failed = || {
        CryptoError::operation(
            "AES-GCM decryption failed: the data or tag does not match the key, iv and additionalData",
        )
    };
    if data.len() < tag_len {
        return Err(failed());
    }
    let (ciphertext, tag) = data.split_at(data.len() - tag_len);
    if tag_len == 16 {
        let mut buf = data.to_vec();
        let plain = key
            .open_in_place(nonce(iv)?, aead::Aad::from(aad), &mut buf)
            .map_err(|_| failed())?;
        return Ok(plain.to_vec());
    }
    let (plaintext, _) = seal(ciphertext)?;
    let (_, full_tag) = seal(&plaintext)?;
    if constant_time_equal(&full_tag.as_ref()[..tag_len], tag) {
        Ok(plaintext)
    } else {
        Err(failed())
    }
}

/// Adds the crypto natives to `natives` (names prefixed `crypto`).
pub(crate) fn install_natives<'js>(ctx: &Ctx<'js>, natives: &Object<'js>) -> Result<()> {
    let set = |name: &str, f: Function<'js>| natives.set(name, f);

    set(
        "cryptoRandom",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, len: usize| {
            buffer(
                &ctx,
                if len > RANDOM_QUOTA {
                    Err(CryptoError::new(
                        ErrorName::Quota,
                        format!("getRandomValues fills at most {RANDOM_QUOTA} bytes, not {len}"),
                    ))
                } else {
                    random_bytes(len)
                },
            )
        })?,
    )?;
    set(
        "cryptoDigest",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, algorithm: String, data: TypedArray<'js, u8>| {
                buffer(
                    &ctx,
                    algorithm
                        .parse()
                        .and_then(|a| Ok(digest_bytes(a, &bytes_of(&data)?))),
                )
            },
        )?,
    )?;
    set(
        "cryptoHmacSign",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, hash: String, key: TypedArray<'js, u8>, data: TypedArray<'js, u8>| {
                buffer(
                    &ctx,
                    (|| {
                        Ok(hmac_sign(
                            hash.parse()?,
                            &bytes_of(&key)?,
                            &bytes_of(&data)?,
                        ))
                    })(),
                )
            },
        )?,
    )?;
    set(
        "cryptoHmacVerify",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             hash: String,
             key: TypedArray<'js, u8>,
             data: TypedArray<'js, u8>,
             signature: TypedArray<'js, u8>| {
                to_js(
                    &ctx,
                    (|| {
                        Ok(hmac_verify(
                            hash.parse()?,
                            &bytes_of(&key)?,
                            &bytes_of(&data)?,
                            &bytes_of(&signature)?,
                        ))
                    })(),
                )
            },
        )?,
    )?;
    set(
        "cryptoEqual",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, a: TypedArray<'js, u8>, b: TypedArray<'js, u8>| {
                to_js(
                    &ctx,
                    (|| Ok(constant_time_equal(&bytes_of(&a)?, &bytes_of(&b)?)))(),
                )
            },
        )?,
    )?;
    set(
        "cryptoAesGcm",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             encrypt: bool,
             key: TypedArray<'js, u8>,
             iv: TypedArray<'js, u8>,
             aad: TypedArray<'js, u8>,
             tag_bits: u32,
             data: TypedArray<'js, u8>| {
                buffer(
                    &ctx,
                    (|| {
                        aes_gcm(
                            encrypt,
                            &bytes_of(&key)?,
                            &bytes_of(&iv)?,
                            &bytes_of(&aad)?,
                            tag_bits,
                            &bytes_of(&data)?,
                        )
                    })(),
                )
            },
        )?,
    )?;
    // JWK's `k` member of secret keys (the asymmetric members are converted in `keys`).
    set(
        "cryptoBase64url",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, data: TypedArray<'js, u8>| {
            to_js(&ctx, bytes_of(&data).map(|b| URL_SAFE_NO_PAD.encode(b)))
        })?,
    )?;
    set(
        "cryptoFromBase64url",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, text: String| {
            buffer(
                &ctx,
                URL_SAFE_NO_PAD.decode(text).map_err(|e| {
                    CryptoError::data(format!("the JWK member is not base64url: {e}"))
                }),
            )
        })?,
    )?;
    keys::install_natives(ctx, natives)?;
    sign::install_natives(ctx, natives)?;
    Ok(())
}

/// Converts a native's result for JavaScript: `CryptoError`s are thrown.
pub(crate) fn to_js<'js, T>(ctx: &Ctx<'js>, r: CryptoResult<T>) -> Result<T> {
    r.map_err(|e| e.throw(ctx))
}

/// A native's bytes as an `ArrayBuffer` (`CryptoError`s are thrown). Results are copied into
/// QuickJS's heap (`new_copy`), never adopted from Rust's: only QuickJS's allocations count
/// toward the run's memory limit, and an adopted 10 MiB ciphertext kept a hundred times would be
/// a gigabyte the limit never saw.
pub(crate) fn buffer<'js>(ctx: &Ctx<'js>, r: CryptoResult<Vec<u8>>) -> Result<ArrayBuffer<'js>> {
    ArrayBuffer::new_copy(ctx.clone(), to_js(ctx, r)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn digests_match_known_answers() {
        let abc = |a: &str| hex(&digest_bytes(a.parse().unwrap(), b"abc"));
        assert_eq!(abc("MD5"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(abc("SHA-1"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            abc("SHA-256"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!("SHA-3".parse::<DigestAlgorithm>().is_err());
    }

    #[test]
    fn truncated_gcm_tags_round_trip_and_reject_tampering() {
        let key = [7u8; 16];
        let iv = [1u8; 12];
        for bits in [32, 64, 96, 104, 112, 120, 128] {
            let sealed = aes_gcm(true, &key, &iv, b"aad", bits, b"hello world").unwrap();
            assert_eq!(sealed.len(), 11 + bits as usize / 8);
            let full = aes_gcm(true, &key, &iv, b"aad", 128, b"hello world").unwrap();
            assert_eq!(sealed, full[..sealed.len()], "a truncated tag is a prefix");
            assert_eq!(
                aes_gcm(false, &key, &iv, b"aad", bits, &sealed).unwrap(),
                b"hello world"
            );
            let mut bad = sealed.clone();
            *bad.last_mut().unwrap() ^= 1;
            assert!(aes_gcm(false, &key, &iv, b"aad", bits, &bad).is_err());
            assert!(aes_gcm(false, &key, &iv, b"other", bits, &sealed).is_err());
        }
        assert_eq!(
            aes_gcm(true, &[0; 24], &iv, b"", 128, b"")
                .unwrap_err()
                .name,
            ErrorName::NotSupported
        );
        assert!(aes_gcm(true, &key, &[0; 16], b"", 128, b"").is_err());
        assert!(aes_gcm(false, &key, &iv, b"", 128, b"short").is_err());
    }

    #[test]
    fn constant_time_equal_needs_equal_lengths() {
        assert!(constant_time_equal(b"abc", b"abc"));
        assert!(!constant_time_equal(b"abc", b"abd"));
        assert!(!constant_time_equal(b"abc", b"abcd"));
    }
}

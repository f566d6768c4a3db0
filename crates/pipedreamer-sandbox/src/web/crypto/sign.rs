//! Signatures: RSASSA-PKCS1-v1_5, ECDSA and Ed25519 over keys in their canonical DER form
//! (`keys`), by *ring*. (HMAC is in the parent module: it needs no key parsing.)
//!
//! ECDSA pairs each curve with its own hash (P-256 with SHA-256, P-384 with SHA-384: JWT's
//! ES256 and ES384), the combinations *ring* implements; others are `NotSupportedError`.
//! RSA signing with SHA-1 is refused likewise (*ring* verifies it, for old signatures, but
//! does not make new ones).

use super::keys::{self, Curve, Family};
use super::{CryptoError, CryptoResult, Hash, buffer, bytes_of, to_js};
use ring::signature::{self, VerificationAlgorithm};
use rquickjs::{Ctx, Function, Object, Result, TypedArray};

/// The signature scheme of a key family with a hash (ignored for Ed25519).
#[derive(Clone, Copy, Debug)]
enum Scheme {
    RsaPkcs1(Hash),
    Ecdsa(Curve),
    Ed25519,
}

impl Scheme {
    fn new(family: Family, hash: Option<Hash>) -> CryptoResult<Self> {
        let need_hash =
            || hash.ok_or_else(|| CryptoError::unsupported("this signature needs a hash"));
        match family {
            Family::Rsa => Ok(Self::RsaPkcs1(need_hash()?)),
            Family::Ec(curve) => match (curve, need_hash()?) {
                (Curve::P256, Hash::Sha256) | (Curve::P384, Hash::Sha384) => Ok(Self::Ecdsa(curve)),
                (curve, hash) => Err(CryptoError::unsupported(format!(
                    "ECDSA with {} on {} is not supported (use SHA-256 on P-256 or SHA-384 on P-384)",
                    hash.name(),
                    curve.name()
                ))),
            },
            Family::Ed25519 => Ok(Self::Ed25519),
        }
    }

    fn sign(self, pkcs8: &[u8], data: &[u8]) -> CryptoResult<Vec<u8>> {
        let failed = |_| CryptoError::operation("signing failed");
        match self {
            Self::RsaPkcs1(hash) => {
                let encoding: &'static dyn signature::RsaEncoding = match hash {
                    Hash::Sha256 => &signature::RSA_PKCS1_SHA256,
                    Hash::Sha384 => &signature::RSA_PKCS1_SHA384,
                    Hash::Sha512 => &signature::RSA_PKCS1_SHA512,
                    Hash::Sha1 => {
                        return Err(CryptoError::unsupported(
                            "RSASSA-PKCS1-v1_5 signing with SHA-1 is not supported (use SHA-256)",
                        ));
                    }
                };
                let pair = keys::rsa_key_pair(pkcs8)?;
                let mut out = vec![0; pair.public().modulus_len()];
                pair.sign(encoding, &super::rng(), data, &mut out)
                    .map_err(failed)?;
                Ok(out)
            }
            Self::Ecdsa(curve) => {
                let (d, point) = keys::ec_private(curve, pkcs8)?;
                let pair = keys::ec_key_pair(curve, &d, &point)?;
                Ok(pair
                    .sign(&super::rng(), data)
                    .map_err(failed)?
                    .as_ref()
                    .to_vec())
            }
            Self::Ed25519 => {
                let (seed, public) = keys::ed25519_private(pkcs8)?;
                let pair = keys::ed25519_key_pair(&seed, public.as_deref())?;
                Ok(pair.sign(data).as_ref().to_vec())
            }
        }
    }

    fn verify(self, spki: &[u8], data: &[u8], sig: &[u8]) -> CryptoResult<bool> {
        let (algorithm, key): (&dyn VerificationAlgorithm, &[u8]) = match self {
            Self::RsaPkcs1(hash) => {
                let params = match hash {
                    Hash::Sha1 => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
                    Hash::Sha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                    Hash::Sha384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                    Hash::Sha512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                };
                let key = keys::rsa_public(spki)?;
                let components = signature::RsaPublicKeyComponents {
                    n: &key.n,
                    e: &key.e,
                };
                return Ok(components.verify(params, data, sig).is_ok());
            }
            Self::Ecdsa(Curve::P256) => (
                &signature::ECDSA_P256_SHA256_FIXED,
                keys::spki_key(Family::Ec(Curve::P256), spki)?,
            ),
            Self::Ecdsa(Curve::P384) => (
                &signature::ECDSA_P384_SHA384_FIXED,
                keys::spki_key(Family::Ec(Curve::P384), spki)?,
            ),
            Self::Ed25519 => (&signature::ED25519, keys::spki_key(Family::Ed25519, spki)?),
        };
        Ok(signature::UnparsedPublicKey::new(algorithm, key)
            .verify(data, sig)
            .is_ok())
    }
}

fn scheme(family: &str, hash: &str) -> CryptoResult<Scheme> {
    let hash = if hash.is_empty() {
        None
    } else {
        Some(hash.parse()?)
    };
    Scheme::new(family.parse()?, hash)
}

pub(super) fn install_natives<'js>(ctx: &Ctx<'js>, natives: &Object<'js>) -> Result<()> {
    // (family, hash or "", PKCS#8 key, data) -> signature
    natives.set(
        "cryptoSign",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             family: String,
             hash: String,
             key: TypedArray<'js, u8>,
             data: TypedArray<'js, u8>| {
                buffer(
                    &ctx,
                    (|| scheme(&family, &hash)?.sign(&bytes_of(&key)?, &bytes_of(&data)?))(),
                )
            },
        )?,
    )?;
    // (family, hash or "", SPKI key, data, signature) -> bool
    natives.set(
        "cryptoVerify",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             family: String,
             hash: String,
             key: TypedArray<'js, u8>,
             data: TypedArray<'js, u8>,
             sig: TypedArray<'js, u8>| {
                to_js(
                    &ctx,
                    (|| {
                        scheme(&family, &hash)?.verify(
                            &bytes_of(&key)?,
                            &bytes_of(&data)?,
                            &bytes_of(&sig)?,
                        )
                    })(),
                )
            },
        )?,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_sign_and_verify() {
        for (family, hash) in [("P-256", "SHA-256"), ("P-384", "SHA-384"), ("Ed25519", "")] {
            let (private, public) = keys::generate(family.parse().unwrap()).unwrap();
            let s = scheme(family, hash).unwrap();
            let sig = s.sign(&private, b"msg").unwrap();
            assert!(s.verify(&public, b"msg", &sig).unwrap(), "{family}");
            assert!(!s.verify(&public, b"msh", &sig).unwrap(), "{family}");
        }
        assert!(scheme("P-256", "SHA-512").is_err());
        assert!(scheme("RSA", "").is_err());
    }
}

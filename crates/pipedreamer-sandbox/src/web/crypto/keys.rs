//! Asymmetric keys between their formats: raw, JWK, PKCS#8 and SPKI in, one canonical DER form
//! out (PKCS#8 for private keys, SPKI for public ones), which is what a `CryptoKey` keeps and
//! what `sign` hands to *ring*. Parsing and encoding go through RustCrypto's `pkcs8`, `spki`,
//! `pkcs1` and `sec1` crates; *ring* checks that the key material is consistent.
//!
//! Bounds: RSA moduli of 2048 to 8192 bits (private keys to 4096 bits, *ring*'s limit), ECDSA on
//! P-256 and P-384 with uncompressed points, Ed25519.

use super::{CryptoError, CryptoResult, bytes_of, to_js};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use pkcs8::der::asn1::{AnyRef, BitStringRef, ObjectIdentifier, OctetStringRef, UintRef};
use pkcs8::der::{Decode, Encode};
use pkcs8::{AlgorithmIdentifierRef, PrivateKeyInfo};
use ring::signature::{self, KeyPair};
use rquickjs::{ArrayBuffer, Ctx, Function, IntoJs, Object, Result, TypedArray, Value};
use serde_json::{Map, Value as Json};
use spki::SubjectPublicKeyInfoRef;
use std::str::FromStr;

static RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
static EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
static P256_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
static P384_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
static ED25519_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// Smallest RSA modulus accepted: *ring* verifies nothing smaller, and a smaller key would
/// import only to fail every verification.
const RSA_MIN_BITS: usize = 2048;
/// Largest RSA modulus accepted, so a verification stays cheap (*ring*'s limit too).
const RSA_MAX_BITS: usize = 8192;

/// An ECDSA curve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Curve {
    P256,
    P384,
}

impl Curve {
    fn oid(self) -> &'static ObjectIdentifier {
        match self {
            Self::P256 => &P256_OID,
            Self::P384 => &P384_OID,
        }
    }
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::P256 => "P-256",
            Self::P384 => "P-384",
        }
    }
    /// Bytes of a coordinate or a private scalar.
    pub(crate) fn size(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
        }
    }
    /// *ring*'s signing algorithm for this curve (with its one hash, see `sign`).
    pub(crate) fn signing(self) -> &'static signature::EcdsaSigningAlgorithm {
        match self {
            Self::P256 => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            Self::P384 => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        }
    }
}

/// The asymmetric key kinds, by what `crypto.js` passes: `RSA` (RSASSA-PKCS1-v1_5), an ECDSA
/// curve name, or `Ed25519`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    Rsa,
    Ec(Curve),
    Ed25519,
}

impl FromStr for Family {
    type Err = CryptoError;
    fn from_str(name: &str) -> CryptoResult<Self> {
        match name {
            "RSA" => Ok(Self::Rsa),
            "P-256" => Ok(Self::Ec(Curve::P256)),
            "P-384" => Ok(Self::Ec(Curve::P384)),
            "Ed25519" => Ok(Self::Ed25519),
            other => Err(CryptoError::unsupported(format!(
                "the key type `{other}` is not supported (RSA, P-256, P-384 or Ed25519)"
            ))),
        }
    }
}

impl Family {
    fn algorithm(self) -> AlgorithmIdentifierRef<'static> {
        match self {
            Self::Rsa => AlgorithmIdentifierRef {
                oid: RSA_ENCRYPTION,
                parameters: Some(AnyRef::NULL),
            },
            Self::Ec(curve) => AlgorithmIdentifierRef {
                oid: EC_PUBLIC_KEY,
                parameters: Some(AnyRef::from(curve.oid())),
            },
            Self::Ed25519 => AlgorithmIdentifierRef {
                oid: ED25519_OID,
                parameters: None,
            },
        }
    }

    /// Checks a parsed AlgorithmIdentifier against this family (and, for EC, its curve).
    fn check(self, found: &AlgorithmIdentifierRef<'_>) -> CryptoResult<()> {
        let ok = match self {
            Self::Rsa => found.oid == RSA_ENCRYPTION,
            Self::Ec(curve) => {
                found.oid == EC_PUBLIC_KEY
                    && found.parameters_oid().is_ok_and(|oid| oid == *curve.oid())
            }
            Self::Ed25519 => found.oid == ED25519_OID && found.parameters.is_none(),
        };
        if ok {
            Ok(())
        } else {
            Err(CryptoError::data(format!(
                "the key's algorithm ({}) is not {}",
                found.oid,
                self.describe()
            )))
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Rsa => "an RSA key",
            Self::Ec(Curve::P256) => "an EC key on P-256",
            Self::Ec(Curve::P384) => "an EC key on P-384",
            Self::Ed25519 => "an Ed25519 key",
        }
    }
}

/// The key formats of `importKey`/`exportKey`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Raw,
    Pkcs8,
    Spki,
    Jwk,
}

impl FromStr for Format {
    type Err = CryptoError;
    fn from_str(name: &str) -> CryptoResult<Self> {
        match name {
            "raw" => Ok(Self::Raw),
            "pkcs8" => Ok(Self::Pkcs8),
            "spki" => Ok(Self::Spki),
            "jwk" => Ok(Self::Jwk),
            other => Err(CryptoError::unsupported(format!(
                "the key format `{other}` is not one of raw, pkcs8, spki, jwk"
            ))),
        }
    }
}

/// A checked key in its canonical form.
pub(crate) struct Imported {
    private: bool,
    der: Vec<u8>,
    /// For RSA keys: the modulus length in bits and the public exponent (big-endian).
    rsa: Option<(usize, Vec<u8>)>,
}

fn der_error(what: &str) -> impl Fn(pkcs8::der::Error) -> CryptoError + '_ {
    move |e| CryptoError::data(format!("the {what} is not valid DER: {e}"))
}

fn encode(value: &impl Encode, what: &str) -> CryptoResult<Vec<u8>> {
    value.to_der().map_err(der_error(what))
}

fn spki_der(family: Family, key: &[u8]) -> CryptoResult<Vec<u8>> {
    let spki = SubjectPublicKeyInfoRef {
        algorithm: family.algorithm(),
        subject_public_key: BitStringRef::from_bytes(key).map_err(der_error("public key"))?,
    };
    encode(&spki, "public key")
}

fn pkcs8_der(family: Family, private_key: &[u8]) -> CryptoResult<Vec<u8>> {
    encode(
        &PrivateKeyInfo::new(family.algorithm(), private_key),
        "private key",
    )
}

/// The public key bits of an SPKI document for `family`.
pub(crate) fn spki_key(family: Family, der: &[u8]) -> CryptoResult<&[u8]> {
    let spki = SubjectPublicKeyInfoRef::try_from(der)
        .map_err(|e| CryptoError::data(format!("the key is not a valid SPKI document: {e}")))?;
    family.check(&spki.algorithm)?;
    spki.subject_public_key
        .as_bytes()
        .ok_or_else(|| CryptoError::data("the SPKI public key is not a whole number of bytes"))
}

fn private_key_info(family: Family, der: &[u8]) -> CryptoResult<PrivateKeyInfo<'_>> {
    let info = PrivateKeyInfo::try_from(der)
        .map_err(|e| CryptoError::data(format!("the key is not a valid PKCS#8 document: {e}")))?;
    family.check(&info.algorithm)?;
    Ok(info)
}

/// An RSA public key: modulus and exponent, big-endian without leading zeros.
pub(crate) struct RsaPublic {
    pub(crate) n: Vec<u8>,
    pub(crate) e: Vec<u8>,
}

fn modulus_bits(n: &[u8]) -> usize {
    n.first()
        .map_or(0, |b| n.len() * 8 - b.leading_zeros() as usize)
}

fn check_modulus(n: &[u8]) -> CryptoResult<usize> {
    let bits = modulus_bits(n);
    if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
        return Err(CryptoError::unsupported(format!(
            "RSA keys of {bits} bits are not supported (use {RSA_MIN_BITS} to {RSA_MAX_BITS} bits)"
        )));
    }
    Ok(bits)
}

pub(crate) fn rsa_public(spki: &[u8]) -> CryptoResult<RsaPublic> {
    let key = pkcs1::RsaPublicKey::from_der(spki_key(Family::Rsa, spki)?)
        .map_err(der_error("RSA public key"))?;
    check_modulus(key.modulus.as_bytes())?;
    Ok(RsaPublic {
        n: key.modulus.as_bytes().to_vec(),
        e: key.public_exponent.as_bytes().to_vec(),
    })
}

/// An RSA private key as *ring* takes it, checked.
pub(crate) fn rsa_key_pair(pkcs8: &[u8]) -> CryptoResult<signature::RsaKeyPair> {
    signature::RsaKeyPair::from_pkcs8(pkcs8).map_err(|e| {
        let reason = e.to_string();
        if reason == "TooLarge" {
            CryptoError::unsupported("RSA private keys over 4096 bits are not supported")
        } else {
            CryptoError::data(format!("the RSA private key was rejected: {reason}"))
        }
    })
}

fn import_rsa_private(der: Vec<u8>) -> CryptoResult<Imported> {
    let info = private_key_info(Family::Rsa, &der)?;
    let key =
        pkcs1::RsaPrivateKey::from_der(info.private_key).map_err(der_error("RSA private key"))?;
    if key.other_prime_infos.is_some() {
        return Err(CryptoError::unsupported(
            "multi-prime RSA keys are not supported",
        ));
    }
    let bits = check_modulus(key.modulus.as_bytes())?;
    let e = key.public_exponent.as_bytes().to_vec();
    rsa_key_pair(&der)?;
    Ok(Imported {
        private: true,
        der,
        rsa: Some((bits, e)),
    })
}

fn import_rsa_public(der: Vec<u8>) -> CryptoResult<Imported> {
    let key = rsa_public(&der)?;
    Ok(Imported {
        private: false,
        rsa: Some((modulus_bits(&key.n), key.e)),
        der,
    })
}

/// An EC private key's scalar and uncompressed public point.
pub(crate) fn ec_private(curve: Curve, pkcs8: &[u8]) -> CryptoResult<(Vec<u8>, Vec<u8>)> {
    let info = private_key_info(Family::Ec(curve), pkcs8)?;
    let key = sec1::EcPrivateKey::from_der(info.private_key)
        .map_err(|e| CryptoError::data(format!("the EC private key is not valid: {e}")))?;
    if key
        .parameters
        .and_then(|p| p.named_curve())
        .is_some_and(|oid| oid != *curve.oid())
    {
        return Err(CryptoError::data(
            "the EC private key names another curve than its algorithm",
        ));
    }
    let public = key.public_key.ok_or_else(|| {
        CryptoError::unsupported(
            "EC private keys without their public key are not supported (export the key with its public key)",
        )
    })?;
    Ok((key.private_key.to_vec(), public.to_vec()))
}

/// An ECDSA key pair as *ring* takes it, checked (the point is on the curve and matches).
pub(crate) fn ec_key_pair(
    curve: Curve,
    d: &[u8],
    point: &[u8],
) -> CryptoResult<signature::EcdsaKeyPair> {
    signature::EcdsaKeyPair::from_private_key_and_public_key(
        curve.signing(),
        d,
        point,
        &super::rng(),
    )
    .map_err(|e| CryptoError::data(format!("the EC key was rejected: {e}")))
}

fn check_point(curve: Curve, point: &[u8]) -> CryptoResult<()> {
    match point.first() {
        Some(4) if point.len() == 1 + 2 * curve.size() => Ok(()),
        Some(2 | 3) if point.len() == 1 + curve.size() => Err(CryptoError::unsupported(
            "compressed EC points are not supported; use the uncompressed form (0x04 || x || y)",
        )),
        _ => Err(CryptoError::data(format!(
            "an EC public key on {} is 0x04 followed by two {}-byte coordinates",
            curve.name(),
            curve.size()
        ))),
    }
}

fn ec_private_der(curve: Curve, d: &[u8], point: &[u8]) -> CryptoResult<Vec<u8>> {
    ec_key_pair(curve, d, point)?;
    let inner = encode(
        &sec1::EcPrivateKey {
            private_key: d,
            // The curve is named by the PKCS#8 algorithm already; browsers leave it out here too.
            parameters: None,
            public_key: Some(point),
        },
        "EC private key",
    )?;
    pkcs8_der(Family::Ec(curve), &inner)
}

/// An Ed25519 private key's seed and, when the document carries it, its public key.
pub(crate) fn ed25519_private(pkcs8: &[u8]) -> CryptoResult<([u8; 32], Option<Vec<u8>>)> {
    let info = private_key_info(Family::Ed25519, pkcs8)?;
    let seed =
        OctetStringRef::from_der(info.private_key).map_err(der_error("Ed25519 private key"))?;
    let seed: [u8; 32] = seed
        .as_bytes()
        .try_into()
        .map_err(|_| CryptoError::data("an Ed25519 private key has 32 bytes"))?;
    Ok((seed, info.public_key.map(<[u8]>::to_vec)))
}

pub(crate) fn ed25519_key_pair(
    seed: &[u8],
    public: Option<&[u8]>,
) -> CryptoResult<signature::Ed25519KeyPair> {
    match public {
        Some(public) => signature::Ed25519KeyPair::from_seed_and_public_key(seed, public),
        None => signature::Ed25519KeyPair::from_seed_unchecked(seed),
    }
    .map_err(|e| CryptoError::data(format!("the Ed25519 key was rejected: {e}")))
}

fn ed25519_private_der(seed: &[u8]) -> CryptoResult<Vec<u8>> {
    let inner = encode(
        &OctetStringRef::new(seed).map_err(der_error("Ed25519 private key"))?,
        "Ed25519 private key",
    )?;
    pkcs8_der(Family::Ed25519, &inner)
}

fn check_ed25519_public(key: &[u8]) -> CryptoResult<()> {
    if key.len() == 32 {
        Ok(())
    } else {
        Err(CryptoError::data(format!(
            "an Ed25519 public key has 32 bytes, not {}",
            key.len()
        )))
    }
}

/// Checks `der` (PKCS#8 or SPKI) as a key of `family`.
fn import_der(family: Family, private: bool, der: Vec<u8>) -> CryptoResult<Imported> {
    match (family, private) {
        (Family::Rsa, true) => return import_rsa_private(der),
        (Family::Rsa, false) => return import_rsa_public(der),
        (Family::Ec(curve), true) => {
            let (d, point) = ec_private(curve, &der)?;
            ec_key_pair(curve, &d, &point)?;
        }
        (Family::Ec(curve), false) => check_point(curve, spki_key(family, &der)?)?,
        (Family::Ed25519, true) => {
            let (seed, public) = ed25519_private(&der)?;
            ed25519_key_pair(&seed, public.as_deref())?;
        }
        (Family::Ed25519, false) => check_ed25519_public(spki_key(family, &der)?)?,
    }
    Ok(Imported {
        private,
        der,
        rsa: None,
    })
}

/// A JWK's base64url member.
fn member(jwk: &Map<String, Json>, name: &str) -> CryptoResult<Option<Vec<u8>>> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Json::String(s)) => URL_SAFE_NO_PAD.decode(s).map(Some).map_err(|e| {
            CryptoError::data(format!("the JWK member `{name}` is not base64url: {e}"))
        }),
        Some(_) => Err(CryptoError::data(format!(
            "the JWK member `{name}` is not a string"
        ))),
    }
}

fn required(jwk: &Map<String, Json>, name: &str) -> CryptoResult<Vec<u8>> {
    member(jwk, name)?.ok_or_else(|| CryptoError::data(format!("the JWK has no `{name}` member")))
}

fn uint<'a>(bytes: &'a [u8], name: &str) -> CryptoResult<UintRef<'a>> {
    UintRef::new(bytes).map_err(|e| CryptoError::data(format!("the JWK member `{name}`: {e}")))
}

fn import_jwk(family: Family, json: &str) -> CryptoResult<Imported> {
    let jwk: Map<String, Json> = serde_json::from_str(json)
        .map_err(|e| CryptoError::data(format!("the JWK is not a JSON object: {e}")))?;
    let kty = jwk.get("kty").and_then(Json::as_str).unwrap_or_default();
    let expected_kty = match family {
        Family::Rsa => "RSA",
        Family::Ec(_) => "EC",
        Family::Ed25519 => "OKP",
    };
    if kty != expected_kty {
        return Err(CryptoError::data(format!(
            "the JWK's kty is `{kty}`, not `{expected_kty}`"
        )));
    }
    let crv = jwk.get("crv").and_then(Json::as_str);
    match family {
        Family::Rsa => {
            let n = required(&jwk, "n")?;
            let e = required(&jwk, "e")?;
            let Some(d) = member(&jwk, "d")? else {
                let public = encode(
                    &pkcs1::RsaPublicKey {
                        modulus: uint(&n, "n")?,
                        public_exponent: uint(&e, "e")?,
                    },
                    "RSA public key",
                )?;
                return import_rsa_public(spki_der(family, &public)?);
            };
            let [p, q, dp, dq, qi] = ["p", "q", "dp", "dq", "qi"].map(|m| required(&jwk, m));
            let (p, q, dp, dq, qi) = (p?, q?, dp?, dq?, qi?);
            if jwk.contains_key("oth") {
                return Err(CryptoError::unsupported(
                    "multi-prime RSA keys are not supported",
                ));
            }
            let private = encode(
                &pkcs1::RsaPrivateKey {
                    modulus: uint(&n, "n")?,
                    public_exponent: uint(&e, "e")?,
                    private_exponent: uint(&d, "d")?,
                    prime1: uint(&p, "p")?,
                    prime2: uint(&q, "q")?,
                    exponent1: uint(&dp, "dp")?,
                    exponent2: uint(&dq, "dq")?,
                    coefficient: uint(&qi, "qi")?,
                    other_prime_infos: None,
                },
                "RSA private key",
            )?;
            import_rsa_private(pkcs8_der(family, &private)?)
        }
        Family::Ec(curve) => {
            if crv != Some(curve.name()) {
                return Err(CryptoError::data(format!(
                    "the JWK's crv is {crv:?}, not `{}`",
                    curve.name()
                )));
            }
            let (x, y) = (required(&jwk, "x")?, required(&jwk, "y")?);
            if x.len() != curve.size() || y.len() != curve.size() {
                return Err(CryptoError::data(format!(
                    "the JWK's x and y have {} bytes each on {}",
                    curve.size(),
                    curve.name()
                )));
            }
            let point = [&[4u8][..], &x, &y].concat();
            match member(&jwk, "d")? {
                Some(d) if d.len() == curve.size() => Ok(Imported {
                    private: true,
                    der: ec_private_der(curve, &d, &point)?,
                    rsa: None,
                }),
                Some(_) => Err(CryptoError::data(format!(
                    "the JWK's d has {} bytes on {}",
                    curve.size(),
                    curve.name()
                ))),
                None => Ok(Imported {
                    private: false,
                    der: spki_der(family, &point)?,
                    rsa: None,
                }),
            }
        }
        Family::Ed25519 => {
            if crv != Some("Ed25519") {
                return Err(CryptoError::data(format!(
                    "the JWK's crv is {crv:?}, not `Ed25519`"
                )));
            }
            let x = required(&jwk, "x")?;
            check_ed25519_public(&x)?;
            match member(&jwk, "d")? {
                Some(d) => {
                    ed25519_key_pair(&d, Some(&x))?;
                    Ok(Imported {
                        private: true,
                        der: ed25519_private_der(&d)?,
                        rsa: None,
                    })
                }
                None => Ok(Imported {
                    private: false,
                    der: spki_der(family, &x)?,
                    rsa: None,
                }),
            }
        }
    }
}

fn import(family: Family, format: Format, data: ImportData) -> CryptoResult<Imported> {
    match (format, data) {
        (Format::Jwk, ImportData::Json(json)) => import_jwk(family, &json),
        (Format::Pkcs8, ImportData::Bytes(der)) => import_der(family, true, der),
        (Format::Spki, ImportData::Bytes(der)) => import_der(family, false, der),
        (Format::Raw, ImportData::Bytes(raw)) => {
            match family {
                Family::Ec(curve) => check_point(curve, &raw)?,
                Family::Ed25519 => check_ed25519_public(&raw)?,
                Family::Rsa => {
                    return Err(CryptoError::unsupported(
                        "RSA keys cannot be imported raw (use spki, pkcs8 or jwk)",
                    ));
                }
            }
            Ok(Imported {
                private: false,
                der: spki_der(family, &raw)?,
                rsa: None,
            })
        }
        _ => Err(CryptoError::data("the key data does not fit the format")),
    }
}

enum ImportData {
    Bytes(Vec<u8>),
    Json(String),
}

/// What `exportKey` gives back: bytes (raw, pkcs8, spki) or the JWK's key members as JSON.
enum Exported {
    Bytes(Vec<u8>),
    Jwk(String),
}

fn b64(bytes: &[u8]) -> Json {
    Json::String(URL_SAFE_NO_PAD.encode(bytes))
}

fn export(family: Family, private: bool, format: Format, der: &[u8]) -> CryptoResult<Exported> {
    match (format, private) {
        (Format::Pkcs8, true) | (Format::Spki, false) => return Ok(Exported::Bytes(der.to_vec())),
        (Format::Raw, false) if family != Family::Rsa => {
            return Ok(Exported::Bytes(spki_key(family, der)?.to_vec()));
        }
        (Format::Jwk, _) => {}
        _ => {
            return Err(CryptoError::new(
                super::ErrorName::InvalidAccess,
                format!(
                    "a {} {} key cannot be exported as {format:?}",
                    if private { "private" } else { "public" },
                    family.describe()
                ),
            ));
        }
    }
    let mut jwk = Map::new();
    match family {
        Family::Rsa => {
            jwk.insert("kty".into(), "RSA".into());
            if private {
                let info = private_key_info(family, der)?;
                let k = pkcs1::RsaPrivateKey::from_der(info.private_key)
                    .map_err(der_error("RSA private key"))?;
                for (name, v) in [
                    ("n", k.modulus),
                    ("e", k.public_exponent),
                    ("d", k.private_exponent),
                    ("p", k.prime1),
                    ("q", k.prime2),
                    ("dp", k.exponent1),
                    ("dq", k.exponent2),
                    ("qi", k.coefficient),
                ] {
                    jwk.insert(name.into(), b64(v.as_bytes()));
                }
            } else {
                let k = rsa_public(der)?;
                jwk.insert("n".into(), b64(&k.n));
                jwk.insert("e".into(), b64(&k.e));
            }
        }
        Family::Ec(curve) => {
            let (d, point) = if private {
                let (d, point) = ec_private(curve, der)?;
                (Some(d), point)
            } else {
                (None, spki_key(family, der)?.to_vec())
            };
            check_point(curve, &point)?;
            let (x, y) = point[1..].split_at(curve.size());
            jwk.insert("kty".into(), "EC".into());
            jwk.insert("crv".into(), curve.name().into());
            jwk.insert("x".into(), b64(x));
            jwk.insert("y".into(), b64(y));
            if let Some(d) = d {
                jwk.insert("d".into(), b64(&d));
            }
        }
        Family::Ed25519 => {
            jwk.insert("kty".into(), "OKP".into());
            jwk.insert("crv".into(), "Ed25519".into());
            if private {
                let (seed, public) = ed25519_private(der)?;
                let pair = ed25519_key_pair(&seed, public.as_deref())?;
                jwk.insert("x".into(), b64(pair.public_key().as_ref()));
                jwk.insert("d".into(), b64(&seed));
            } else {
                jwk.insert("x".into(), b64(spki_key(family, der)?));
            }
        }
    }
    Ok(Exported::Jwk(Json::Object(jwk).to_string()))
}

/// A new key pair of `family` as (PKCS#8, SPKI). RSA generation is not offered: *ring* cannot
/// generate RSA keys, and the `rsa` crate's private-key code is not constant-time.
pub(super) fn generate(family: Family) -> CryptoResult<(Vec<u8>, Vec<u8>)> {
    match family {
        Family::Ec(curve) => {
            let rng = super::rng();
            let doc = signature::EcdsaKeyPair::generate_pkcs8(curve.signing(), &rng)
                .map_err(|_| CryptoError::operation("EC key generation failed"))?;
            let pair = signature::EcdsaKeyPair::from_pkcs8(curve.signing(), doc.as_ref(), &rng)
                .map_err(|e| CryptoError::operation(format!("EC key generation failed: {e}")))?;
            let spki = spki_der(family, pair.public_key().as_ref())?;
            Ok((doc.as_ref().to_vec(), spki))
        }
        Family::Ed25519 => {
            let seed = super::random_bytes(32)?;
            let pair = ed25519_key_pair(&seed, None)?;
            Ok((
                ed25519_private_der(&seed)?,
                spki_der(family, pair.public_key().as_ref())?,
            ))
        }
        Family::Rsa => Err(CryptoError::unsupported(
            "RSA key generation is not available in the sandbox; import an RSA key (pkcs8 or jwk) instead",
        )),
    }
}

pub(super) fn install_natives<'js>(ctx: &Ctx<'js>, natives: &Object<'js>) -> Result<()> {
    // importKey: [private?, der, modulusLength, publicExponent] for (family, format, data).
    natives.set(
        "cryptoImportKey",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             family: String,
             format: String,
             data: Value<'js>|
             -> Result<Vec<Value<'js>>> {
                let data = match data.as_string() {
                    Some(s) => ImportData::Json(s.to_string()?),
                    None => ImportData::Bytes(to_js(
                        &ctx,
                        bytes_of(&TypedArray::<u8>::from_value(data)?),
                    )?),
                };
                let imported = to_js(&ctx, (|| import(family.parse()?, format.parse()?, data))())?;
                let (bits, exponent) = imported.rsa.unwrap_or_default();
                Ok(vec![
                    imported.private.into_js(&ctx)?,
                    ArrayBuffer::new_copy(ctx.clone(), imported.der)?.into_value(),
                    bits.into_js(&ctx)?,
                    TypedArray::<u8>::new_copy(ctx.clone(), exponent)?.into_value(),
                ])
            },
        )?,
    )?;
    natives.set(
        "cryptoExportKey",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             family: String,
             private: bool,
             format: String,
             der: TypedArray<'js, u8>|
             -> Result<Value<'js>> {
                let exported = to_js(
                    &ctx,
                    (|| export(family.parse()?, private, format.parse()?, &bytes_of(&der)?))(),
                )?;
                match exported {
                    Exported::Bytes(b) => Ok(ArrayBuffer::new_copy(ctx.clone(), b)?.into_value()),
                    Exported::Jwk(json) => json.into_js(&ctx),
                }
            },
        )?,
    )?;
    natives.set(
        "cryptoGenerateKeyPair",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, family: String| -> Result<Vec<ArrayBuffer<'js>>> {
                let (private, public) = to_js(&ctx, family.parse().and_then(generate))?;
                Ok(vec![
                    ArrayBuffer::new_copy(ctx.clone(), private)?,
                    ArrayBuffer::new_copy(ctx.clone(), public)?,
                ])
            },
        )?,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_round_trip_through_jwk() {
        for family in [
            Family::Ec(Curve::P256),
            Family::Ec(Curve::P384),
            Family::Ed25519,
        ] {
            let (private, public) = generate(family).unwrap();
            let Exported::Jwk(jwk) = export(family, true, Format::Jwk, &private).unwrap() else {
                panic!()
            };
            let back = import(family, Format::Jwk, ImportData::Json(jwk)).unwrap();
            assert!(back.private);
            let Exported::Jwk(jwk) = export(family, false, Format::Jwk, &public).unwrap() else {
                panic!()
            };
            let back = import(family, Format::Jwk, ImportData::Json(jwk)).unwrap();
            assert_eq!(back.der, public, "{family:?}");
        }
        assert!(generate(Family::Rsa).is_err());
    }

    #[test]
    fn wrong_curves_and_formats_are_data_errors() {
        let (private, public) = generate(Family::Ec(Curve::P256)).unwrap();
        assert!(import_der(Family::Ec(Curve::P384), true, private.clone()).is_err());
        assert!(import_der(Family::Ed25519, false, public.clone()).is_err());
        assert!(import_der(Family::Rsa, false, public).is_err());
        assert!(import_der(Family::Ec(Curve::P256), true, b"\x30\x03garbage".to_vec()).is_err());
        assert!(
            import(
                Family::Ec(Curve::P256),
                Format::Raw,
                ImportData::Bytes(vec![2; 33])
            )
            .is_err()
        );
    }
}

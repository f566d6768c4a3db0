//! The engine layer: the static engine, a CA bundle and a `nonroot` user. It depends only on the
//! engine binary and the epoch, so it is byte-identical across workflows and shared by registries.

use crate::Error;
use crate::blob::Entry;
use base64::Engine as _;
use std::path::Path;
use std::sync::Arc;

/// Where the engine lives in the image.
pub const ENGINE_PATH: &str = "app/engine/pipedreamer-engine";
/// The unprivileged user and group.
pub const NONROOT: u32 = 65532;

/// Mozilla's roots (via `webpki-root-certs`) as PEM, the same on every machine.
fn ca_bundle() -> Vec<u8> {
    let mut pem = String::new();
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    pem.into_bytes()
}

/// Refuses a dynamically linked binary (one with an ELF interpreter): it cannot run FROM scratch.
pub fn check_static(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let bad = |why: &str| Error::EngineNotStatic {
        path: path.to_owned(),
        why: why.to_owned(),
    };
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" {
        return Err(bad("not an ELF executable"));
    }
    if bytes[4] != 2 || bytes[5] != 1 {
        return Err(bad("not a 64-bit little-endian ELF"));
    }
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let u64_at =
        |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap_or_default()) as usize;
    let (phoff, phentsize, phnum) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    for i in 0..phnum {
        let off = phoff + i * phentsize;
        if off + 4 > bytes.len() {
            return Err(bad("truncated program headers"));
        }
        const PT_INTERP: u32 = 3;
        if u32::from_le_bytes(bytes[off..off + 4].try_into().unwrap_or_default()) == PT_INTERP {
            return Err(bad("it is dynamically linked (has an ELF interpreter)"));
        }
    }
    Ok(())
}

/// The engine layer's entries.
pub fn engine_entries(engine: Arc<Vec<u8>>) -> Vec<Entry> {
    let passwd = format!(
        "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{NONROOT}:{NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n"
    );
    let group = format!("root:x:0:\nnonroot:x:{NONROOT}:\n");
    let file = |path: &str, mode: u32, data: Vec<u8>| Entry::File {
        path: path.into(),
        mode,
        data: Arc::new(data),
    };
    vec![
        Entry::File {
            path: ENGINE_PATH.into(),
            mode: 0o755,
            data: engine,
        },
        file("etc/ssl/certs/ca-certificates.crt", 0o644, ca_bundle()),
        file("etc/passwd", 0o644, passwd.into_bytes()),
        file("etc/group", 0o644, group.into_bytes()),
        Entry::Dir {
            path: "tmp".into(),
            mode: 0o1777,
        },
        Entry::Dir {
            path: "home/nonroot".into(),
            mode: 0o755,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_binaries_are_refused() {
        let sh = std::fs::read("/bin/sh").unwrap();
        let err = check_static(Path::new("/bin/sh"), &sh)
            .unwrap_err()
            .to_string();
        assert!(err.contains("dynamically linked"), "{err}");
        assert!(check_static(Path::new("x"), b"#!/bin/sh\n").is_err());
    }

    #[test]
    fn ca_bundle_is_pem() {
        let pem = String::from_utf8(ca_bundle()).unwrap();
        assert!(pem.matches("BEGIN CERTIFICATE").count() > 100);
    }
}

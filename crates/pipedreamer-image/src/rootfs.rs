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

/// Where the CA bundle lives in the image.
pub const CA_BUNDLE_PATH: &str = "etc/ssl/certs/ca-certificates.crt";

/// The ELF section the engine's `build.rs` fills with its dependency list (JSON); keep in sync
/// with `crates/pipedreamer-engine/build.rs`.
pub const DEPS_SECTION: &str = ".pipedreamer.deps";

/// Mozilla's roots (via `webpki-root-certs`) as PEM, the same on every machine.
pub(crate) fn ca_bundle() -> Vec<u8> {
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

/// The content of section `name` of a 64-bit little-endian ELF file, when it has one. Every
/// offset is bounds-checked: a truncated or foreign file gives `None`, never a panic.
pub fn elf_section<'a>(bytes: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let u16_at =
        |o: usize| Some(u16::from_le_bytes(bytes.get(o..o + 2)?.try_into().ok()?) as usize);
    let u32_at =
        |o: usize| Some(u32::from_le_bytes(bytes.get(o..o + 4)?.try_into().ok()?) as usize);
    let u64_at =
        |o: usize| Some(u64::from_le_bytes(bytes.get(o..o + 8)?.try_into().ok()?) as usize);
    if bytes.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let (shoff, shentsize, shnum, shstrndx) =
        (u64_at(0x28)?, u16_at(0x3A)?, u16_at(0x3C)?, u16_at(0x3E)?);
    let header = |i: usize| shoff.checked_add(i.checked_mul(shentsize)?);
    let names = header(shstrndx)?;
    let names_offset = u64_at(names + 0x18)?;
    for i in 0..shnum {
        let h = header(i)?;
        let name_at = names_offset.checked_add(u32_at(h)?)?;
        let found = bytes.get(name_at..)?.split(|b| *b == 0).next()?;
        if found == name.as_bytes() {
            let (offset, size) = (u64_at(h + 0x18)?, u64_at(h + 0x20)?);
            return bytes.get(offset..offset.checked_add(size)?);
        }
    }
    None
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
        file(CA_BUNDLE_PATH, 0o644, ca_bundle()),
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
    fn sections_are_found_by_name_and_bad_files_give_none() {
        // The test engine's build.rs embedded its dependency list.
        let engine = std::fs::read(crate::test_support::test_engine()).unwrap();
        let deps = elf_section(&engine, DEPS_SECTION).expect("the engine embeds its dependencies");
        let list: serde_json::Value = serde_json::from_slice(deps).unwrap();
        assert_eq!(list["packages"][0]["name"], "pipedreamer-engine");
        assert_eq!(elf_section(&engine, ".no-such-section"), None);
        for cut in [0, 6, 64, engine.len() / 2] {
            assert_eq!(
                elf_section(&engine[..cut], DEPS_SECTION),
                None,
                "cut at {cut}"
            );
        }
        assert_eq!(elf_section(b"#!/bin/sh\n", DEPS_SECTION), None);
    }

    #[test]
    fn ca_bundle_is_pem() {
        let pem = String::from_utf8(ca_bundle()).unwrap();
        assert!(pem.matches("BEGIN CERTIFICATE").count() > 100);
    }
}

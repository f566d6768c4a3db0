//! Embeds the engine's own dependency list (the crates linked into this binary, with versions
//! and licenses) in the executable, so `pipedreamer build` can write an SBOM that describes the
//! engine it ships, whichever CLI builds the image.
//!
//! The list comes from `cargo tree -p pipedreamer-engine -e normal,no-proc-macro` for the
//! target: what a build of the engine alone links (proc macros and build scripts run at build
//! time and ship nothing). It goes into a non-allocated ELF section, `.pipedreamer.deps`, of a
//! small object file passed to the linker: non-allocated sections are not garbage-collected by
//! `--gc-sections` and survive `strip = "symbols"`, and nothing in the engine's code has to
//! refer to it. `pipedreamer_image::rootfs::embedded_dependencies` reads it back.
//!
//! When cargo cannot answer (no lockfile, an offline machine without the sources) or the target
//! is not a 64-bit little-endian ELF, nothing is embedded and a warning says so: the engine
//! builds and runs the same, and its SBOM lists the engine as one package with its checksum.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The section `pipedreamer-image` looks for; keep in sync with `rootfs::DEPS_SECTION`.
const SECTION: &str = ".pipedreamer.deps";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=Cargo.toml");
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    if let Some(lock) = manifest_dir
        .ancestors()
        .map(|d| d.join("Cargo.lock"))
        .find(|p| p.is_file())
    {
        println!("cargo:rerun-if-changed={}", lock.display());
    }
    let target = std::env::var("TARGET").unwrap_or_default();
    let Some(machine) = elf_machine(&target) else {
        println!(
            "cargo:warning=no dependency list embedded: target `{target}` is not a 64-bit little-endian ELF target"
        );
        return;
    };
    let list = match dependency_list(&manifest_dir, &target) {
        Ok(list) => list,
        Err(why) => {
            println!(
                "cargo:warning=no dependency list embedded in the engine (its SBOM will list it as one package): {why}"
            );
            return;
        }
    };
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("engine-deps.o");
    if let Err(e) = std::fs::write(&out, elf_object(machine, list.as_bytes())) {
        println!(
            "cargo:warning=no dependency list embedded: cannot write {}: {e}",
            out.display()
        );
        return;
    }
    println!("cargo:rustc-link-arg-bins={}", out.display());
}

/// `e_machine` for the targets we know how to write an object for.
fn elf_machine(target: &str) -> Option<u16> {
    if !(target.contains("-linux") || target.contains("-freebsd") || target.contains("-netbsd")) {
        return None;
    }
    match target.split('-').next()? {
        "x86_64" => Some(62),
        "aarch64" => Some(183),
        "riscv64gc" | "riscv64" => Some(243),
        _ => None,
    }
}

/// The dependency list as JSON: `{"format":1,"packages":[{"name","version","license","source"}]}`,
/// sorted, the engine itself first. `source` is `crates.io`, a git URL, or `local` for path
/// dependencies (never the absolute path, which would make the binary depend on where it was
/// built).
fn dependency_list(manifest_dir: &Path, target: &str) -> Result<String, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(manifest_dir)
        .args([
            "tree",
            "--locked",
            "--offline",
            "-e",
            "normal,no-proc-macro",
        ])
        .args([
            "--target",
            target,
            "--prefix",
            "none",
            "-p",
            "pipedreamer-engine",
        ])
        .args(["-f", "{p}|{l}"])
        // Our build's flags are not `cargo tree`'s business.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .map_err(|e| format!("cannot run `cargo tree`: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "`cargo tree` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut packages = std::collections::BTreeSet::new();
    let mut root = None;
    for line in text.lines() {
        let line = line.trim_end_matches(" (*)");
        let Some((package, license)) = line.rsplit_once('|') else {
            continue;
        };
        // `name vX.Y.Z`, then ` (/path)` for path and ` (url#rev)` for git dependencies.
        let mut words = package.splitn(3, ' ');
        let (Some(name), Some(version)) = (words.next(), words.next()) else {
            continue;
        };
        let version = version.trim_start_matches('v');
        let source = match words
            .next()
            .map(|s| s.trim_matches(|c| c == '(' || c == ')'))
        {
            None => "crates.io".to_owned(),
            Some(s) if s.starts_with('/') => {
                println!("cargo:rerun-if-changed={s}/Cargo.toml");
                "local".to_owned()
            }
            Some(s) => s.to_owned(),
        };
        let entry = (
            name.to_owned(),
            version.to_owned(),
            license.to_owned(),
            source,
        );
        if name == "pipedreamer-engine" {
            root = Some(entry);
        } else {
            packages.insert(entry);
        }
    }
    let root = root.ok_or("`cargo tree` did not list pipedreamer-engine")?;
    let entries: Vec<String> = std::iter::once(&root)
        .chain(&packages)
        .map(|(name, version, license, source)| {
            format!(
                "{{\"name\":{},\"version\":{},\"license\":{},\"source\":{}}}",
                quote(name),
                quote(version),
                quote(license),
                quote(source)
            )
        })
        .collect();
    Ok(format!(
        "{{\"format\":1,\"packages\":[{}]}}",
        entries.join(",")
    ))
}

/// A JSON string literal.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A minimal ELF64 little-endian relocatable object: the null section, `SECTION` holding
/// `payload` (SHT_PROGBITS, no SHF_ALLOC: kept in the file, never loaded) and the section name
/// table. No symbols: nothing refers to it.
fn elf_object(machine: u16, payload: &[u8]) -> Vec<u8> {
    let names = format!("\0{SECTION}\0.shstrtab\0");
    let data_offset = 64u64;
    let names_offset = data_offset + payload.len() as u64;
    let headers_offset = (names_offset + names.len() as u64).next_multiple_of(8);
    let mut o = Vec::new();
    o.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
    o.extend_from_slice(&1u16.to_le_bytes()); // ET_REL
    o.extend_from_slice(&machine.to_le_bytes());
    o.extend_from_slice(&1u32.to_le_bytes()); // EV_CURRENT
    o.extend_from_slice(&0u64.to_le_bytes()); // entry
    o.extend_from_slice(&0u64.to_le_bytes()); // program headers: none
    o.extend_from_slice(&headers_offset.to_le_bytes());
    o.extend_from_slice(&0u32.to_le_bytes()); // flags
    o.extend_from_slice(&64u16.to_le_bytes()); // header size
    o.extend_from_slice(&0u16.to_le_bytes()); // program header size
    o.extend_from_slice(&0u16.to_le_bytes()); // program header count
    o.extend_from_slice(&64u16.to_le_bytes()); // section header size
    o.extend_from_slice(&3u16.to_le_bytes()); // section count
    o.extend_from_slice(&2u16.to_le_bytes()); // index of the name table
    o.extend_from_slice(payload);
    o.extend_from_slice(names.as_bytes());
    o.resize(headers_offset as usize, 0);
    let mut section = |name: u32, kind: u32, offset: u64, size: u64| {
        o.extend_from_slice(&name.to_le_bytes());
        o.extend_from_slice(&kind.to_le_bytes());
        o.extend_from_slice(&0u64.to_le_bytes()); // flags: not allocated
        o.extend_from_slice(&0u64.to_le_bytes()); // address
        o.extend_from_slice(&offset.to_le_bytes());
        o.extend_from_slice(&size.to_le_bytes());
        o.extend_from_slice(&0u32.to_le_bytes()); // link
        o.extend_from_slice(&0u32.to_le_bytes()); // info
        o.extend_from_slice(&1u64.to_le_bytes()); // alignment
        o.extend_from_slice(&0u64.to_le_bytes()); // entry size
    };
    section(0, 0, 0, 0);
    section(1, 1, data_offset, payload.len() as u64); // SHT_PROGBITS
    let names_name = 1 + SECTION.len() as u32 + 1;
    section(names_name, 3, names_offset, names.len() as u64); // SHT_STRTAB
    o
}

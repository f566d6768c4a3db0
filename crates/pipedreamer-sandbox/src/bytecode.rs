//! Workflow module bytecode per realm slot. Each module is compiled once, under the name of
//! slot 0; a run in slot `k` gets a copy renamed to slot `k`. Slot names have a fixed width
//! (`~00000042/`), so renaming rewrites bytes in place in the bytecode's atom table; nothing
//! else in the format moves. Where the slot tags sit is found once, at load ([`Template`]), so a
//! run pays one copy and a few small writes, even for a package of megabytes. The renamed copy
//! carries QuickJS's "no checksum" marker instead of a checksum: the bytes never leave this
//! process, so checking them would only cost a pass over every byte, every run. When the name
//! cannot be found (a path with non-Latin-1 characters is stored as UTF-16) or QuickJS refuses
//! the result, the loader compiles the module's source instead.

use crate::slot::slot_tag;

/// Bytecode format version this renaming was written against (QuickJS-ng's `BC_VERSION`).
const BC_VERSION: u8 = 28;

/// The checksum value QuickJS-ng accepts without computing the checksum (`JS_ReadObject`).
const UNCHECKED: u32 = u32::MAX;

/// A module's bytecode under slot 0's name, with where its slot tags are.
#[derive(Debug)]
pub(crate) struct Template {
    bytes: Box<[u8]>,
    /// Offsets of slot 0's tag in `bytes`; empty when the bytecode cannot be renamed.
    tags: Box<[usize]>,
}

impl Template {
    /// `bytes`, compiled under slot 0's name.
    pub(crate) fn new(bytes: Vec<u8>) -> Self {
        let from = slot_tag(0);
        let mut tags = Vec::new();
        if bytes.len() >= 5 && bytes[0] == BC_VERSION {
            let mut at = 0;
            while let Some(i) = find(&bytes[at..], from.as_bytes()) {
                tags.push(at + i);
                at += i + from.len();
            }
        }
        Self {
            bytes: bytes.into_boxed_slice(),
            tags: tags.into_boxed_slice(),
        }
    }

    /// The bytecode renamed to slot `slot`, or `None` when it cannot be.
    pub(crate) fn for_slot(&self, slot: usize) -> Option<Vec<u8>> {
        if self.tags.is_empty() {
            return None;
        }
        let to = slot_tag(slot);
        let mut bytes = self.bytes.to_vec();
        for &at in &self.tags {
            bytes[at..at + to.len()].copy_from_slice(to.as_bytes());
        }
        bytes[1..5].copy_from_slice(&UNCHECKED.to_ne_bytes());
        Some(bytes)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut at = 0;
    // Jump between candidate first bytes rather than comparing every window.
    while let Some(i) = haystack[at..].iter().position(|&b| b == first) {
        let start = at + i;
        if haystack[start..].starts_with(needle) {
            return Some(start);
        }
        at = start + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rquickjs::module::WriteOptions;
    use rquickjs::{Context, Module, Runtime};

    fn compile(name: &str, source: &str) -> Vec<u8> {
        let rt = Runtime::new().unwrap();
        let ctx = Context::full(&rt).unwrap();
        ctx.with(|ctx| {
            Module::declare(ctx.clone(), name, source)
                .unwrap()
                .write(WriteOptions::default())
                .unwrap()
        })
    }

    #[test]
    fn the_bytecode_format_is_the_one_renaming_was_written_for() {
        let bytes = compile(&format!("{}a.js", slot_tag(0)), "export default 1");
        assert_eq!(bytes[0], BC_VERSION, "QuickJS's bytecode format changed");
    }

    #[test]
    fn renamed_bytecode_loads_under_the_new_name() {
        let template = Template::new(compile(
            &format!("{}nodes/a.js", slot_tag(0)),
            "export default 7;",
        ));
        assert!(!template.tags.is_empty());
        let renamed = template.for_slot(42).unwrap();
        let rt = Runtime::new().unwrap();
        let ctx = Context::full(&rt).unwrap();
        ctx.with(|ctx| {
            #[allow(unsafe_code)]
            // SAFETY: bytecode written by this QuickJS build, renamed by `for_slot`.
            let module = unsafe { Module::load(ctx.clone(), &renamed) }.unwrap();
            let name: String = module.name().unwrap();
            assert_eq!(name, format!("{}nodes/a.js", slot_tag(42)));
        });
    }

    #[test]
    fn names_stored_as_utf16_are_not_renamed() {
        let template = Template::new(compile(
            &format!("{}nodes/ä€.js", slot_tag(0)),
            "export default 7;",
        ));
        assert!(template.for_slot(3).is_none());
    }
}

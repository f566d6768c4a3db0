//! Workflow module bytecode per realm slot. Each module is compiled once, under the name of
//! slot 0; a run in slot `k` gets a copy renamed to slot `k`. Slot names have a fixed width
//! (`~00000042/`), so renaming rewrites bytes in place in the bytecode's atom table and then
//! the header checksum; nothing else in the format moves. When the name cannot be found (a path
//! with non-Latin-1 characters is stored as UTF-16) or QuickJS refuses the result, the loader
//! compiles the module's source instead.

use crate::slot::slot_tag;

/// Bytecode format version this renaming was written against (QuickJS-ng's `BC_VERSION`).
const BC_VERSION: u8 = 28;

/// `template` (compiled under slot 0's name) renamed to slot `slot`, or `None` when it cannot be.
pub(crate) fn for_slot(template: &[u8], slot: usize) -> Option<Vec<u8>> {
    if template.len() < 5 || template[0] != BC_VERSION {
        return None;
    }
    let from = slot_tag(0);
    let to = slot_tag(slot);
    let mut bytes = template.to_vec();
    let mut found = false;
    let mut at = 0;
    while let Some(i) = find(&bytes[at..], from.as_bytes()) {
        bytes[at + i..at + i + to.len()].copy_from_slice(to.as_bytes());
        at += i + to.len();
        found = true;
    }
    if !found {
        return None;
    }
    let sum = checksum(&bytes[5..]);
    bytes[1..5].copy_from_slice(&sum.to_ne_bytes());
    Some(bytes)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// QuickJS-ng's `bc_csum`, bit for bit (including that a final full word is not summed).
fn checksum(p: &[u8]) -> u32 {
    let mut h: u32 = 0;
    let mut i = 0;
    while i + 4 < p.len() {
        let word = u32::from_ne_bytes([p[i], p[i + 1], p[i + 2], p[i + 3]]);
        h = h.wrapping_add(word).wrapping_mul(0x9e37_0001);
        i += 4;
    }
    let byte = |k: usize| p.get(i + k).map_or(0, |&b| u32::from(b));
    let tail = match p.len() - i {
        3 => byte(0) | byte(1) << 8 | byte(2) << 16,
        2 => byte(0) | byte(1) << 8,
        1 => byte(0),
        _ => 0,
    };
    h.wrapping_add(tail).wrapping_mul(0x9e37_0001)
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
    fn checksum_matches_quickjs() {
        for source in [
            "export default 1",
            "export const x = 'abc';",
            "export default () => 42;\n",
        ] {
            let bytes = compile(&format!("{}a.js", slot_tag(0)), source);
            let stored = u32::from_ne_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
            assert_eq!(bytes[0], BC_VERSION, "QuickJS's bytecode format changed");
            assert_eq!(checksum(&bytes[5..]), stored, "for {source:?}");
        }
    }

    #[test]
    fn renamed_bytecode_loads_under_the_new_name() {
        let template = compile(&format!("{}nodes/a.js", slot_tag(0)), "export default 7;");
        let renamed = for_slot(&template, 42).unwrap();
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
        let template = compile(&format!("{}nodes/ä€.js", slot_tag(0)), "export default 7;");
        assert!(for_slot(&template, 3).is_none());
    }
}

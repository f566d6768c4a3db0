//! Realm slots: a realm serves several runs, and QuickJS keeps one instance per module name for
//! the life of a context, so each run loads its modules under its own names, `~<slot>/<path>`,
//! the slot a fixed-width number (see `bytecode`, which renames compiled modules in place).
//! A module's imports resolve within its own slot (see `loader`), or to the realm's one instance
//! of a shared module ([`REALM_SLOT`], see `shared`).

use rquickjs::Error;

/// The slot of the modules a realm instantiates once, while it is set up, and shares among its
/// runs (see `shared`); never a run's slot.
pub(crate) const REALM_SLOT: usize = 99_999_999;
const _: () = assert!(crate::realm::RUNS_PER_REALM < REALM_SLOT);

/// The prefix of slot `slot`'s module names.
pub(crate) fn slot_tag(slot: usize) -> String {
    format!("~{slot:08}/")
}

/// The module name of workflow module `path` in realm slot `slot`.
pub(crate) fn slot_name(slot: usize, path: &str) -> String {
    format!("{}{path}", slot_tag(slot))
}

/// Splits a slot module name into its slot and workflow path.
pub(crate) fn split_slot(name: &str) -> Option<(usize, &str)> {
    let (slot, path) = name.strip_prefix('~')?.split_once('/')?;
    (slot.len() == 8).then_some(())?;
    Some((slot.parse().ok()?, path))
}

/// Removes slot `slot`'s prefix and the shared modules' from a message (stack traces name
/// modules), and the suffix of a CommonJS file's record module, so users see paths.
pub(crate) fn unslot(slot: usize, message: &str) -> String {
    if message.contains('~') {
        message
            .replace(&slot_tag(slot), "")
            .replace(&slot_tag(REALM_SLOT), "")
            .replace(crate::node::commonjs::RECORD_SUFFIX, "")
    } else {
        message.to_owned()
    }
}

/// The error for an import the workflow's graph does not have.
pub(crate) fn refuse(base: &str, name: &str) -> Error {
    Error::new_resolving_message(
        base,
        name,
        "only imports written literally in the workflow's modules (resolved when it is loaded) are allowed; code run through eval or Function cannot import",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let name = slot_name(3, "nodes/a.js");
        assert_eq!(name, "~00000003/nodes/a.js");
        assert_eq!(split_slot(&name), Some((3, "nodes/a.js")));
        assert_eq!(split_slot("~3/nodes/a.js"), None);
        assert_eq!(
            unslot(3, "at f (~00000003/nodes/a.js:1)"),
            "at f (nodes/a.js:1)"
        );
        assert_eq!(
            unslot(3, "at f (~99999999/nodes/text.ts:1)"),
            "at f (nodes/text.ts:1)"
        );
        assert_eq!(
            unslot(3, "at g (~00000003/node_modules/x/i.js?commonjs:7:2)"),
            "at g (node_modules/x/i.js:7:2)"
        );
    }
}

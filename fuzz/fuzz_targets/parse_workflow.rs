//! Any text as `workflow.yaml` (with one node file present): parsing and validation must return
//! diagnostics, never panic, and every diagnostic must point inside the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pipedreamer_spec::source::MemorySource;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let files = MemorySource::from_pairs([("nodes/a.ts", "export default async (ctx: unknown, i: unknown) => i;")]);
    let checked = pipedreamer_spec::check_text(text, &files);
    let lines = pipedreamer_spec::diagnostic::source_lines(text).len() + 1;
    for d in &checked.diagnostics {
        if d.file == "workflow.yaml" {
            assert!(d.pos.line >= 1 && d.pos.line <= lines, "{d:?} outside {lines} lines");
        }
    }
});

//! Terminal conventions: data on stdout, everything else on stderr; color only on a terminal and
//! never with `NO_COLOR`.

use pipedreamer_spec::Diagnostic;
use std::io::IsTerminal;
use std::path::Path;

/// Whether stderr gets ANSI colors.
pub fn color() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
}

/// Renders diagnostics with source excerpts read from `dir`.
pub fn render_diagnostics(dir: &Path, diagnostics: &[Diagnostic]) -> String {
    let read = |file: &str| std::fs::read_to_string(dir.join(file)).ok();
    pipedreamer_spec::diagnostic::render(diagnostics, &read, color())
}

/// A `hint:` line on stderr.
pub fn hint(text: &str) {
    if color() {
        eprintln!("\x1b[1;36mhint:\x1b[0m {text}");
    } else {
        eprintln!("hint: {text}");
    }
}

/// A success line on stderr.
pub fn success(text: &str) {
    if color() {
        eprintln!("\x1b[1;32m✓\x1b[0m {text}");
    } else {
        eprintln!("✓ {text}");
    }
}

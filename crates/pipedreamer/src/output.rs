//! Terminal conventions: data on stdout, everything else on stderr; color only on a terminal and
//! never with `NO_COLOR`.

use pipedreamer_spec::Diagnostic;
use pipedreamer_spec::source::{DirSource, SourceProvider};
use std::io::IsTerminal;
use std::path::Path;

/// Whether stderr gets ANSI colors.
pub fn color() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
}

/// Renders diagnostics with source excerpts read from `dir`. Excerpts are read through
/// [`DirSource`], so a file that leads outside the directory (say `workflow.yaml` linked to
/// `/proc/self/environ`) is never shown, and the secrets file never is either.
pub fn render_diagnostics(dir: &Path, diagnostics: &[Diagnostic]) -> String {
    let source = DirSource::new(dir);
    let read = |file: &str| {
        (file != pipedreamer_spec::SECRETS_FILE)
            .then(|| source.read(file).ok())
            .flatten()
    };
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

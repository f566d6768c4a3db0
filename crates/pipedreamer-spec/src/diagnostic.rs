//! Diagnostics: what is wrong, where (file:line:col) and how to fix it.
//!
//! Every check in this crate reports through [`Diagnostic`] so the CLI can print all problems at
//! once, as text with a source excerpt or as JSON.

use serde::Serialize;
use std::fmt::Write as _;

/// A 1-based line and column in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
}

impl Pos {
    /// A position from 1-based line and column.
    pub fn new(line: usize, col: usize) -> Self {
        Self { line, col }
    }

    /// The position of a byte offset in `source`.
    pub fn from_offset(source: &str, offset: usize) -> Self {
        let offset = offset.min(source.len());
        let before = &source[..source.floor_char_boundary(offset)];
        let lines = source_lines(before);
        Self {
            line: lines.len().max(1),
            col: lines.last().map_or(0, |l| l.chars().count()) + 1,
        }
    }
}

/// Splits text into lines the way YAML and JavaScript count them: `\r\n`, `\n` and a lone `\r`
/// all end a line. (`str::lines` ignores a lone `\r`, which would misplace excerpts.)
pub fn source_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                lines.push(&text[start..i]);
                start = i + 1;
            }
            b'\r' => {
                lines.push(&text[start..i]);
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    lines.push(&text[start..]);
    lines
}

/// How bad a diagnostic is: errors make a workflow invalid, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The workflow cannot run until this is fixed.
    Error,
    /// The workflow runs, but probably not as intended.
    Warning,
}

/// One problem found in a workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// A stable, kebab-case identifier for the kind of problem (for tooling and docs).
    pub code: &'static str,
    /// What is wrong, lowercase, with values in backticks.
    pub message: String,
    /// The file, relative to the workflow directory.
    pub file: String,
    /// Where in `file`.
    #[serde(flatten)]
    pub pos: Pos,
    /// How to fix it, when there is something useful to say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Diagnostic {
    /// An error at `file:pos`.
    pub fn error(code: &'static str, file: &str, pos: Pos, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            code,
            message: message.into(),
            file: file.to_owned(),
            pos,
            hint: None,
        }
    }

    /// A warning at `file:pos`.
    pub fn warning(code: &'static str, file: &str, pos: Pos, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, file, pos, message)
        }
    }

    /// Adds a fix suggestion.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Whether this makes the workflow invalid.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `file:line:col`.
    pub fn location(&self) -> String {
        format!("{}:{}:{}", self.file, self.pos.line, self.pos.col)
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}: {level}: {}", self.location(), self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

/// Sorts diagnostics by file and position, errors first at equal positions.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| {
        (a.file.as_str(), a.pos, a.severity).cmp(&(b.file.as_str(), b.pos, b.severity))
    });
}

/// Renders diagnostics for a terminal: a header, the location, the source line with a caret, and
/// the hint. `source_of` returns a file's text when it is available.
pub fn render(
    diagnostics: &[Diagnostic],
    source_of: &dyn Fn(&str) -> Option<String>,
    color: bool,
) -> String {
    let paint = |code: &str, text: &str| {
        if color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    };
    let mut out = String::new();
    for d in diagnostics {
        let (level, level_color) = match d.severity {
            Severity::Error => ("error", "1;31"),
            Severity::Warning => ("warning", "1;33"),
        };
        let _ = writeln!(
            out,
            "{}{} {}",
            paint(level_color, &format!("{level}[{}]", d.code)),
            paint("1", ":"),
            paint("1", &d.message)
        );
        let _ = writeln!(out, "  {} {}", paint("34", "-->"), d.location());
        if let Some(line) = source_of(&d.file).and_then(|s| {
            s.lines()
                .nth(d.pos.line.saturating_sub(1))
                .map(str::to_owned)
        }) {
            let number = d.pos.line.to_string();
            let pad = " ".repeat(number.len());
            let caret_pad = " ".repeat(d.pos.col.saturating_sub(1));
            let _ = writeln!(out, "  {pad} {}", paint("34", "|"));
            let _ = writeln!(
                out,
                "  {} {} {line}",
                paint("34", &number),
                paint("34", "|")
            );
            let _ = writeln!(
                out,
                "  {pad} {} {caret_pad}{}",
                paint("34", "|"),
                paint(level_color, "^")
            );
        }
        if let Some(hint) = &d.hint {
            let _ = writeln!(out, "  {} {hint}", paint("1;36", "hint:"));
        }
        out.push('\n');
    }
    out
}

/// The closest candidate to `word`, when one is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_one_based_positions() {
        let src = "ab\ncdé\nf";
        assert_eq!(Pos::from_offset(src, 0), Pos::new(1, 1));
        assert_eq!(Pos::from_offset(src, 4), Pos::new(2, 2));
        assert_eq!(Pos::from_offset(src, src.len()), Pos::new(3, 2));
    }

    /// Regression (found by the fuzzer): YAML ends lines at a lone `\r`, so must we.
    #[test]
    fn lone_carriage_returns_end_lines() {
        assert_eq!(source_lines("a\rb\r\nc\nd"), vec!["a", "b", "c", "d"]);
        assert_eq!(Pos::from_offset("a\rbc", 3), Pos::new(2, 2));
    }

    #[test]
    fn typo_suggestions_only_when_close() {
        assert_eq!(
            did_you_mean("dependson", ["depends_on", "timeout"]),
            Some("depends_on")
        );
        assert_eq!(did_you_mean("zzz", ["depends_on", "timeout"]), None);
    }
}

//! Log output: human text or one JSON object per line, on stderr, filtered by `RUST_LOG`.
//!
//! One log call is one line in either format. JSON escapes by itself; the text format writes
//! field values as they are, so node code logging `"ok\n2026-01-01T00:00:00Z  INFO fake"` forged
//! a second line. [`EscapingFields`] writes control characters in every field (the message
//! included) as escapes instead.

use std::fmt::{self, Write};
use tracing::field::{Field, Visit};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::Writer;

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the global subscriber. Safe to call more than once (later calls do nothing).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(use_color())
            .fmt_fields(EscapingFields)
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}

/// Color only for a terminal, and never with `NO_COLOR` set.
pub fn use_color() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
}

/// Formats event fields like tracing-subscriber's default (`message key=value ...`), with
/// control characters escaped.
#[derive(Debug, Clone, Copy, Default)]
pub struct EscapingFields;

impl<'a> MakeVisitor<Writer<'a>> for EscapingFields {
    type Visitor = EscapingVisitor<'a>;

    fn make_visitor(&self, target: Writer<'a>) -> Self::Visitor {
        EscapingVisitor {
            writer: target,
            first: true,
            result: Ok(()),
        }
    }
}

/// See [`EscapingFields`].
pub struct EscapingVisitor<'a> {
    writer: Writer<'a>,
    first: bool,
    result: fmt::Result,
}

impl Visit for EscapingVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        // Quoted like the default format (`key="value"`), which also escapes.
        self.record_debug(field, &value)
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        let name = field.name();
        // Metadata of `log` records, already shown as the target.
        if name.starts_with("log.") {
            return;
        }
        let separator = if std::mem::take(&mut self.first) {
            ""
        } else {
            " "
        };
        let mut out = Escape(&mut self.writer);
        self.result = match name {
            "message" => write!(out, "{separator}{value:?}"),
            name => write!(
                out,
                "{separator}{}={value:?}",
                name.strip_prefix("r#").unwrap_or(name)
            ),
        };
    }
}

impl VisitOutput<fmt::Result> for EscapingVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl VisitFmt for EscapingVisitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.writer
    }
}

/// `text` with control characters (but tab) and Unicode line separators escaped, as log lines
/// write them: for printing text node code wrote (run records) to a terminal.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let _ = fmt::Write::write_str(&mut Escape(&mut out), text);
    out
}

/// Writes control characters (but tab) and Unicode line separators as escapes.
struct Escape<W>(W);

impl<W: fmt::Write> fmt::Write for Escape<W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Most text has nothing to escape: write it in one piece.
        if !s.chars().any(needs_escape) {
            return self.0.write_str(s);
        }
        for c in s.chars() {
            match c {
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                c if needs_escape(c) => write!(self.0, "\\u{{{:x}}}", c as u32)?,
                c => self.0.write_char(c)?,
            }
        }
        Ok(())
    }
}

fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\t') || matches!(c, '\u{2028}' | '\u{2029}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_line_breaks_and_terminal_controls() {
        let mut out = String::new();
        write!(Escape(&mut out), "a\nb\r\x1b[31mc\td\u{2028}e\u{85}").unwrap();
        assert_eq!(out, "a\\nb\\r\\u{1b}[31mc\td\\u{2028}e\\u{85}");
    }
}

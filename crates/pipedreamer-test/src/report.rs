//! A [`Report`] as text (one line per case, each failure at its `file:line:col` with a diff),
//! as JSON, or as JUnit XML (the `testsuites`/`testsuite`/`testcase`/`failure` shape CI systems
//! read: one `testsuite` per test file).

use crate::runner::{CaseResult, Report};
use serde_json::json;
use std::fmt::Write as _;
use std::time::Duration;

/// The report as text for a terminal; `color` adds ANSI colors.
pub fn text(report: &Report, color: bool) -> String {
    let paint = |code: &str, s: &str| {
        if color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    };
    let mut out = String::new();
    for case in &report.cases {
        let mark = if case.passed() {
            paint("1;32", "✓")
        } else {
            paint("1;31", "✗")
        };
        let _ = writeln!(
            out,
            "{mark} {}: {} ({})",
            case.file,
            case.name,
            millis(case.duration)
        );
        for f in &case.failures {
            let at = format!("{}:{}:{}", case.file, f.pos.line, f.pos.col);
            // A message's own lines (say the lines a run logged) stay under it.
            let message = f.message.replace('\n', "\n      ");
            let _ = writeln!(out, "    {}: {message}", paint("1", &at));
            if let Some(diff) = &f.diff {
                for line in diff.lines() {
                    let line = match line.as_bytes().first() {
                        Some(b'-') if !line.starts_with("---") => paint("31", line),
                        Some(b'+') if !line.starts_with("+++") => paint("32", line),
                        _ => line.to_owned(),
                    };
                    let _ = writeln!(out, "      {line}");
                }
            }
        }
    }
    let summary = format!(
        "{} passed, {} failed ({} case(s) in {:.2} s)",
        report.passed(),
        report.failed(),
        report.cases.len(),
        report.duration.as_secs_f64()
    );
    let summary = if report.failed() > 0 {
        paint("1;31", &summary)
    } else {
        paint("1;32", &summary)
    };
    let _ = writeln!(out, "{summary}");
    out
}

/// The report as a JSON document.
pub fn json(report: &Report) -> serde_json::Value {
    let cases: Vec<_> = report
        .cases
        .iter()
        .map(|c| {
            let failures: Vec<_> = c
                .failures
                .iter()
                .map(|f| {
                    json!({
                        "file": c.file,
                        "line": f.pos.line,
                        "col": f.pos.col,
                        "message": f.message,
                        "diff": f.diff,
                    })
                })
                .collect();
            json!({
                "file": c.file,
                "line": c.pos.line,
                "name": c.name,
                "status": if c.passed() { "passed" } else { "failed" },
                "run_id": c.run_id,
                "duration_ms": ms(c.duration),
                "failures": failures,
            })
        })
        .collect();
    json!({
        "workflow": report.workflow,
        "passed": report.passed(),
        "failed": report.failed(),
        "duration_ms": ms(report.duration),
        "cases": cases,
    })
}

/// The report as JUnit XML: `<testsuites>` with one `<testsuite>` per file, one `<testcase>`
/// per case (`classname` is `<workflow>.<file stem>`), a `<failure>` per missed expectation.
pub fn junit(report: &Report) -> String {
    let mut files: Vec<&str> = Vec::new();
    for c in &report.cases {
        if !files.contains(&c.file.as_str()) {
            files.push(&c.file);
        }
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\" time=\"{}\">",
        escape(&format!("pipedreamer test {}", report.workflow)),
        report.cases.len(),
        report.failed(),
        seconds(report.duration)
    );
    for file in files {
        let cases: Vec<&CaseResult> = report.cases.iter().filter(|c| c.file == file).collect();
        let failed = cases.iter().filter(|c| !c.passed()).count();
        let time: Duration = cases.iter().map(|c| c.duration).sum();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" skipped=\"0\" time=\"{}\">",
            escape(file),
            cases.len(),
            seconds(time)
        );
        let stem = file
            .rsplit('/')
            .next()
            .unwrap_or(file)
            .trim_end_matches(".yaml")
            .trim_end_matches(".yml");
        let classname = escape(&format!("{}.{stem}", report.workflow));
        for c in cases {
            let open = format!(
                "    <testcase name=\"{}\" classname=\"{classname}\" file=\"{}\" line=\"{}\" time=\"{}\"",
                escape(&c.name),
                escape(&c.file),
                c.pos.line,
                seconds(c.duration)
            );
            if c.passed() {
                let _ = writeln!(out, "{open}/>");
                continue;
            }
            let _ = writeln!(out, "{open}>");
            for f in &c.failures {
                let mut body = format!("{}:{}:{}: {}", c.file, f.pos.line, f.pos.col, f.message);
                if let Some(diff) = &f.diff {
                    body.push('\n');
                    body.push_str(diff);
                }
                let _ = writeln!(
                    out,
                    "      <failure message=\"{}\" type=\"expectation\">{}</failure>",
                    escape(&f.message),
                    escape(&body)
                );
            }
            let _ = writeln!(out, "    </testcase>");
        }
        let _ = writeln!(out, "  </testsuite>");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Text as XML character data or an attribute value: the five special characters escaped, and
/// characters XML 1.0 cannot hold at all (most C0 controls) replaced with U+FFFD. Newlines and
/// tabs in attributes become character references so parsers keep them.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn seconds(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn millis(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::Failure;
    use pipedreamer_spec::Pos;

    fn report() -> Report {
        let case = |name: &str, failures: Vec<Failure>| CaseResult {
            file: "tests/greet.yaml".into(),
            name: name.into(),
            pos: Pos::new(2, 5),
            run_id: "r1".into(),
            duration: Duration::from_millis(3),
            failures,
        };
        Report {
            workflow: "hello".into(),
            cases: vec![
                case("greets <ada> & \"bob\"", vec![]),
                case(
                    "shouts",
                    vec![Failure {
                        pos: Pos::new(9, 15),
                        message: "the output differs from `output`".into(),
                        diff: Some("--- expected\n+++ actual\n-a\n+b\u{1}\n".into()),
                    }],
                ),
            ],
            duration: Duration::from_millis(20),
        }
    }

    #[test]
    fn text_names_each_failure_at_its_position_with_the_diff() {
        let t = text(&report(), false);
        assert!(
            t.contains("✓ tests/greet.yaml: greets <ada> & \"bob\" (3 ms)"),
            "{t}"
        );
        assert!(t.contains("✗ tests/greet.yaml: shouts"), "{t}");
        assert!(
            t.contains(
                "    tests/greet.yaml:9:15: the output differs from `output`\n      --- expected\n"
            ),
            "{t}"
        );
        assert!(t.contains("1 passed, 1 failed"), "{t}");
    }

    #[test]
    fn junit_escapes_everything_and_counts_failures() {
        let x = junit(&report());
        assert!(
            x.contains("<testsuites name=\"pipedreamer test hello\" tests=\"2\" failures=\"1\""),
            "{x}"
        );
        assert!(
            x.contains("name=\"greets &lt;ada&gt; &amp; &quot;bob&quot;\""),
            "{x}"
        );
        assert!(x.contains("classname=\"hello.greet\""), "{x}");
        assert!(x.contains("+b\u{FFFD}"), "{x}");
        assert!(!x.contains('\u{1}'));
    }

    #[test]
    fn json_has_counts_and_failure_positions() {
        let j = json(&report());
        assert_eq!(j["passed"], 1);
        assert_eq!(j["failed"], 1);
        assert_eq!(j["cases"][1]["failures"][0]["line"], 9);
        assert_eq!(j["cases"][1]["status"], "failed");
    }
}

//! `pipedreamer test`: the real CLI on real workflow directories with `tests/*.yaml`: cases pass
//! and fail as they should, each failure at the `file:line:col` of its expectation, fetch
//! stubs answer (and a fetch without one fails the case), triggers reach node code as the
//! engine gives them, reports in text, JSON and JUnit XML (parsed by Python's XML parser).

use crate::{pipedreamer, repo_root, text, write};
use serde_json::{Value, json};
use std::path::Path;

/// A node that echoes what it was started with: its trigger, input and a secret's presence.
const ECHO: &str = r#"export default async function run(ctx, input) {
  ctx.log.info("token is " + (ctx.secrets.api?.token ?? "absent"));
  return { trigger: ctx.run.trigger, input };
}
"#;

const ECHO_WORKFLOW: &str = r#"name: echo
version: "1"
nodes:
  - id: echo
    file: echo.js
triggers:
  - type: webhook
    name: push
    secret: hooks.push
  - type: cron
    name: nightly
    schedule: "0 3 * * *"
  - type: queue
    subject: orders.new
"#;

fn json_report(dir: &Path, args: &[&str]) -> (Option<i32>, Value, String) {
    let mut all = vec!["test", "-o", "json"];
    all.extend_from_slice(args);
    let out = pipedreamer(&all, dir);
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    });
    (out.status.code(), doc, text(&out.stderr))
}

#[test]
fn every_example_with_tests_passes() {
    let mut tested = Vec::new();
    for entry in std::fs::read_dir(repo_root().join("examples")).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.join("tests").is_dir() {
            continue;
        }
        let (code, doc, stderr) = json_report(&dir, &[]);
        assert_eq!(code, Some(0), "{}: {doc:#}\n{stderr}", dir.display());
        assert_eq!(doc["failed"], 0);
        assert!(doc["passed"].as_u64().unwrap() >= 2, "{doc:#}");
        tested.push(dir.file_name().unwrap().to_string_lossy().into_owned());
    }
    tested.sort();
    for example in ["daily-report", "fetch-auth", "hello"] {
        assert!(
            tested.iter().any(|t| t == example),
            "{example} has no tests: {tested:?}"
        );
    }
}

#[test]
fn a_failed_expectation_is_named_at_its_line_with_a_diff() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "workflow.yaml",
                "name: t\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js}\n",
            ),
            (
                "a.js",
                "export default async (ctx, input) => { ctx.log.info('hi ' + input.name); return { message: 'Hello, ' + input.name + '!' }; };\n",
            ),
            (
                "tests/t.yaml",
                // 6:22 is `output`'s value, 10:20 the item of `contains`, 13:15 the status.
                "cases:\n  - name: right\n    trigger: {http: {name: Ada}}\n  - name: wrong output\n    trigger: {http: {name: Bob}}\n    expect: {output: {message: \"Hello, Ada!\"}}\n  - name: wrong log\n    expect:\n      logs:\n        contains: [\"bye\"]\n  - name: wrong status\n    expect:\n      status: failed\n",
            ),
        ],
    );
    let out = pipedreamer(&["test"], dir.path());
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    for want in [
        "✓ tests/t.yaml: right",
        "✗ tests/t.yaml: wrong output",
        "tests/t.yaml:6:22: the output differs from `output`",
        "-  \"message\": \"Hello, Ada!\"",
        "+  \"message\": \"Hello, Bob!\"",
        "tests/t.yaml:10:20: no log line contains \"bye\"",
        // What the run did log, indented under the failure.
        "\n      [a] hi undefined\n",
        "tests/t.yaml:13:15: expected the run to have failed, it succeeded",
        "1 passed, 3 failed",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in:\n{stdout}");
    }
}

#[test]
fn triggers_reach_node_code_as_the_engine_gives_them() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("workflow.yaml", ECHO_WORKFLOW),
            ("echo.js", ECHO),
            (
                "tests/triggers.yaml",
                r#"cases:
  - name: http
    trigger: {http: {name: ada}}
    expect: {output: {trigger: http, input: {name: ada}}}
  - name: webhook
    trigger: {webhook: {name: push, event: push, branch: main, body: {after: abc}}}
    expect:
      output:
        trigger: "webhook:push"
        input: {event: push, delivery: null, payload: {after: abc, ref: refs/heads/main}}
  - name: cron
    trigger: {cron: nightly}
    expect: {output: {trigger: "cron:nightly", input: {trigger: nightly}}}
  - name: queue
    trigger: {queue: {subject: orders.new, body: {id: 7}}}
    expect: {output: {trigger: "queue:orders.new", input: {id: 7}}}
"#,
            ),
        ],
    );
    let (code, doc, stderr) = json_report(dir.path(), &[]);
    assert_eq!(code, Some(0), "{doc:#}\n{stderr}");
    assert_eq!(doc["passed"], 4);
}

#[test]
fn a_delivery_the_engine_would_ignore_fails_its_case_at_the_trigger() {
    let dir = tempfile::tempdir().unwrap();
    let workflow = ECHO_WORKFLOW.replace(
        "    secret: hooks.push\n",
        "    secret: hooks.push\n    events: [push]\n    branches: [main]\n",
    );
    write(
        dir.path(),
        &[
            ("workflow.yaml", workflow.as_str()),
            ("echo.js", ECHO),
            (
                "tests/hooks.yaml",
                r#"cases:
  - name: main
    trigger: {webhook: {name: push, event: push, branch: main, body: {}}}
  - name: a feature branch
    trigger: {webhook: {name: push, event: push, branch: feature, body: {}}}
  - name: an issue event
    trigger: {webhook: {name: push, event: issues, branch: main, body: {}}}
"#,
            ),
        ],
    );
    let (code, doc, stderr) = json_report(dir.path(), &[]);
    assert_eq!(code, Some(1), "{doc:#}\n{stderr}");
    assert_eq!(doc["passed"], 1, "{doc:#}");
    let cases = doc["cases"].as_array().unwrap();
    let message = |name: &str| {
        let case = cases.iter().find(|c| c["name"] == name).unwrap();
        assert_eq!(
            case["failures"][0]["line"],
            case["line"].as_u64().unwrap() + 1
        );
        case["failures"][0]["message"].as_str().unwrap().to_owned()
    };
    assert!(
        message("a feature branch").contains("branch `feature` is not in `branches`"),
        "{doc:#}"
    );
    assert!(
        message("an issue event").contains("event `issues` is not in `events`"),
        "{doc:#}"
    );
}

#[test]
fn secrets_are_the_cases_own_and_redacted_from_logs() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("workflow.yaml", ECHO_WORKFLOW),
            ("echo.js", ECHO),
            // `.secrets.yaml` is not what cases see.
            (
                ".secrets.yaml",
                "api: {token: from-the-file}\nhooks: {push: k}\n",
            ),
            (
                "tests/secrets.yaml",
                r#"cases:
  - name: with a secret
    secrets: {api: {token: s3cret-value}}
    expect:
      logs: {contains: ["token is [REDACTED]"], excludes: ["s3cret-value"]}
  - name: without
    expect:
      logs: {contains: ["token is absent"], excludes: ["from-the-file"]}
"#,
            ),
        ],
    );
    let (code, doc, stderr) = json_report(dir.path(), &[]);
    assert_eq!(code, Some(0), "{doc:#}\n{stderr}");
}

#[test]
fn fetch_stubs_answer_and_a_fetch_without_one_fails_the_case_with_its_url() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "workflow.yaml",
                "name: f\nversion: \"1\"\nnodes:\n  - {id: get, file: get.js}\nfetch:\n  allow: [\"api.example.com\", \"redirect.example.com\"]\n",
            ),
            (
                "get.js",
                r#"export default async function run(ctx, input) {
  try {
    const res = await fetch(input.url, { method: input.method ?? "GET" });
    return { status: res.status, url: res.url, type: res.headers.get("content-type"), body: await res.json() };
  } catch (e) {
    // Caught on purpose: the case must fail anyway.
    return { caught: e.name + ": " + e.message };
  }
}
"#,
            ),
            (
                "tests/fetch.yaml",
                r#"cases:
  - name: stubbed
    trigger: {http: {url: "https://api.example.com/users/ada"}}
    fetch:
      - match: {method: POST, url: "https://api.example.com/**"}
        respond: {status: 500}
      - match: {method: GET, url: "https://api.example.com/users/*"}
        respond: {status: 201, body: {login: ada}}
    expect:
      output: {status: 201, url: "https://api.example.com/users/ada", type: application/json, body: {login: ada}}
  - name: redirect followed and checked
    trigger: {http: {url: "https://redirect.example.com/old"}}
    fetch:
      - match: {url: "https://redirect.example.com/old"}
        respond: {status: 302, headers: {location: "https://api.example.com/new"}}
      - match: {url: "https://api.example.com/new"}
        respond: {body: "[1]", headers: {content-type: application/json}}
    expect:
      output_contains: {status: 200, url: "https://api.example.com/new", body: [1]}
  - name: no stub
    trigger: {http: {url: "https://api.example.com/users/bob/repos"}}
    fetch:
      - match: {url: "https://api.example.com/users/*"}
  - name: policy first
    trigger: {http: {url: "https://evil.example.net/"}}
    fetch:
      - match: {url: "**"}
    expect:
      output_contains: {caught: "NotCapable: requires network access to `evil.example.net`; add it to `fetch.allow` in workflow.yaml"}
  - name: a stubbed redirect is checked too
    trigger: {http: {url: "https://redirect.example.com/away"}}
    fetch:
      - match: {url: "**"}
        respond: {status: 301, headers: {location: "https://evil.example.net/"}}
    expect:
      output_contains: {caught: "NotCapable: requires network access to `evil.example.net`; add it to `fetch.allow` in workflow.yaml"}
"#,
            ),
        ],
    );
    let (code, doc, stderr) = json_report(dir.path(), &[]);
    assert_eq!(code, Some(1), "{doc:#}\n{stderr}");
    let cases = doc["cases"].as_array().unwrap();
    let by_name = |n: &str| cases.iter().find(|c| c["name"] == n).unwrap();
    assert_eq!(by_name("stubbed")["status"], "passed", "{doc:#}");
    assert_eq!(
        by_name("redirect followed and checked")["status"],
        "passed",
        "{doc:#}"
    );
    let no_stub = &by_name("no stub")["failures"][0];
    assert_eq!(no_stub["line"], 20, "{doc:#}");
    assert!(
        no_stub["message"]
            .as_str()
            .unwrap()
            .starts_with("fetch GET https://api.example.com/users/bob/repos matched no stub"),
        "{doc:#}"
    );
    // A stub matching everything does not open what `fetch.allow` closes.
    assert_eq!(by_name("policy first")["status"], "passed", "{doc:#}");
    assert_eq!(
        by_name("a stubbed redirect is checked too")["status"],
        "passed",
        "{doc:#}"
    );
}

#[test]
fn k_selects_cases_by_name_and_a_miss_lists_them() {
    let hello = repo_root().join("examples/hello");
    let (code, doc, _) = json_report(&hello, &["-k", "WORLD"]);
    assert_eq!(code, Some(0));
    let names: Vec<&str> = doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        !names.is_empty() && names.iter().all(|n| n.contains("world")),
        "{names:?}"
    );
    let out = pipedreamer(&["test", "-k", "nothing like it"], &hello);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("no case name contains `nothing like it`")
            && stderr.contains("greets by name"),
        "{stderr}"
    );
}

#[test]
fn invalid_test_files_are_reported_with_positions_and_nothing_runs() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("workflow.yaml", ECHO_WORKFLOW),
            ("echo.js", ECHO),
            (
                "tests/bad.yaml",
                "cases:\n  - name: a\n    expct: {}\n  - name: b\n    trigger: {webhook: {name: pusj}}\n    expect:\n      nodes: {ecko: succeeded}\n      status: done\n  - name: a\n",
            ),
        ],
    );
    let out = pipedreamer(&["test"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    for want in [
        "tests/bad.yaml:3:5",
        "unknown key `expct` in a case",
        "did you mean `expect`?",
        "tests/bad.yaml:8:15",
        "unknown run status `done`",
        "tests/bad.yaml:9:5",
        "case `a` is already defined at line 2",
        "no case ran",
    ] {
        assert!(stderr.contains(want), "missing {want:?} in:\n{stderr}");
    }
    // Against the workflow (once the file itself is fine): trigger and node names.
    write(
        dir.path(),
        &[(
            "tests/bad.yaml",
            "cases:\n  - name: b\n    trigger: {webhook: {name: pusj}}\n    expect:\n      nodes: {ecko: succeeded}\n",
        )],
    );
    let stderr = text(&pipedreamer(&["test"], dir.path()).stderr);
    for want in [
        "tests/bad.yaml:3:14",
        "the workflow has no webhook trigger `pusj`",
        "did you mean `push`?",
        "tests/bad.yaml:5:15",
        "the workflow has no node `ecko`",
    ] {
        assert!(stderr.contains(want), "missing {want:?} in:\n{stderr}");
    }
}

#[test]
fn no_tests_is_an_error_that_says_how_to_add_one() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[("workflow.yaml", ECHO_WORKFLOW), ("echo.js", ECHO)],
    );
    let out = pipedreamer(&["test"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("no test cases") && stderr.contains("hint: add one"),
        "{stderr}"
    );
}

#[test]
fn junit_is_xml_ci_systems_read() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("workflow.yaml", ECHO_WORKFLOW),
            ("echo.js", ECHO),
            (
                "tests/a.yaml",
                "cases:\n  - name: passes <&>\n  - name: fails \"quoted\"\n    expect: {output: {x: \"\\u0001<tag>\"}}\n",
            ),
            ("tests/b.yml", "cases:\n  - name: another file\n"),
        ],
    );
    let out = pipedreamer(&["test", "-o", "junit"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    // Python's parser refuses malformed XML; the shape is what JUnit consumers (GitHub, GitLab,
    // Jenkins) read: testsuites > testsuite > testcase > failure, with these attributes.
    let check = r#"
import sys, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.buffer.read())
assert root.tag == "testsuites", root.tag
assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "1", "0"), root.attrib
suites = root.findall("testsuite")
assert [s.get("name") for s in suites] == ["tests/a.yaml", "tests/b.yml"], [s.attrib for s in suites]
cases = root.iter("testcase")
got = [(c.get("classname"), c.get("name"), c.get("line"), len(c.findall("failure"))) for c in cases]
assert got == [("echo.a", "passes <&>", "2", 0), ("echo.a", 'fails "quoted"', "3", 1), ("echo.b", "another file", "2", 0)], got
for c in root.iter("testcase"):
    float(c.get("time"))
failure = root.find("testsuite/testcase/failure")
assert failure.get("type") == "expectation"
assert "tests/a.yaml:4:22: the output differs" in failure.text, failure.text
assert "<tag>" in failure.text
print("ok")
"#;
    let mut py = std::process::Command::new("python3")
        .args(["-c", check])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 is needed to parse the JUnit XML");
    {
        use std::io::Write;
        py.stdin.take().unwrap().write_all(&out.stdout).unwrap();
    }
    let res = py.wait_with_output().unwrap();
    assert!(
        res.status.success(),
        "{}\n{}",
        text(&res.stderr),
        text(&out.stdout)
    );
}

#[test]
fn cases_run_in_parallel_each_as_its_own_run() {
    // Many cases at once on few workers: each gets its own run, its own input and result.
    let dir = tempfile::tempdir().unwrap();
    let mut cases = String::from("cases:\n");
    for i in 0..40 {
        cases.push_str(&format!(
            "  - name: case {i}\n    trigger: {{http: {{n: {i}}}}}\n    expect: {{output: {{trigger: http, input: {{n: {i}}}}}}}\n"
        ));
    }
    write(
        dir.path(),
        &[
            ("workflow.yaml", ECHO_WORKFLOW),
            ("echo.js", ECHO),
            ("tests/many.yaml", &cases),
        ],
    );
    let (code, doc, stderr) = json_report(dir.path(), &[]);
    assert_eq!(code, Some(0), "{doc:#}\n{stderr}");
    let ids: std::collections::BTreeSet<&str> = doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 40);
    assert_eq!(doc["cases"][39]["name"], json!("case 39"));
}

#[test]
fn init_writes_a_test_that_passes() {
    let dir = tempfile::tempdir().unwrap();
    let wf = dir.path().join("wf");
    let out = pipedreamer(&["init", "wf"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        wf.join("tests/greet.yaml").is_file(),
        "init did not write tests/greet.yaml"
    );
    let (code, doc, stderr) = json_report(&wf, &[]);
    assert_eq!(code, Some(0), "{doc:#}\n{stderr}");
    assert_eq!(doc["passed"], 2);
}

#[test]
fn test_cases_never_ship_in_the_image() {
    // What `build` ships is decided by `content::workflow_content` alone (native builder and
    // `--dockerfile` alike), so judging the example with it is judging the image.
    let dir = repo_root().join("examples/hello");
    let resolved =
        pipedreamer_spec::resolve(&pipedreamer_spec::source::DirSource::new(&dir)).unwrap();
    let content = pipedreamer_image::content::workflow_content(&dir, &resolved.modules).unwrap();
    let shipped: Vec<&str> = content.files.iter().map(|f| f.rel.as_str()).collect();
    assert!(shipped.contains(&"workflow.yaml"), "{shipped:?}");
    assert!(
        !shipped.iter().any(|f| f.starts_with("tests/")),
        "test cases would ship in the image: {shipped:?}"
    );
    assert!(
        content
            .excluded
            .iter()
            .any(|e| e.path == "tests" || e.path.starts_with("tests/")),
        "tests/ is not listed as left out: {:?}",
        content.excluded
    );
}

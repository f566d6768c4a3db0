//! What a run leaves for its record: `ctx.log`/`console` lines, `ctx.progress`, `ctx.output`
//! (capped, redacted) in `RunOutcome.journal`, and each node's attempts and timing.

mod common;

use common::*;
use pipedreamer_runs::{LogLevel, limits};
use pipedreamer_sandbox::*;
use serde_json::json;
use std::sync::Arc;

#[tokio::test]
async fn logs_progress_and_outputs_are_journaled_in_order() {
    let wl = workload(
        "name: j\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js}\n  - {id: b, file: b.js, depends_on: [a]}\n",
        &[
            (
                "a.js",
                "export default (ctx) => {
                   ctx.log.info('hello', { n: 1 });
                   ctx.progress(10);
                   ctx.progress(50, 'half way');
                   ctx.progress(250, 'clamped');
                   ctx.output('first', { x: [1, 2] });
                   ctx.output('first', 'replaced');
                   console.warn('from console');
                   return 1;
                 }",
            ),
            (
                "b.js",
                "export default (ctx, n) => { ctx.log.error('b got', n); ctx.output('second', null); return n + 1; }",
            ),
        ],
        json!({}),
    );
    let (out, json) = run_bounded(&sandbox(), &wl, json!({})).await;
    assert!(out.succeeded(), "{json}");
    let j = &out.journal;
    let lines: Vec<(&str, LogLevel, &str)> = j
        .logs
        .iter()
        .map(|l| (l.node.as_str(), l.level, l.message.as_str()))
        .collect();
    assert_eq!(
        lines,
        [
            ("a", LogLevel::Info, "hello { n: 1 }"),
            ("console", LogLevel::Warn, "from console"),
            ("b", LogLevel::Error, "b got 1"),
        ]
    );
    assert!(
        j.logs.windows(2).all(|w| w[0].at_ms <= w[1].at_ms),
        "{:?}",
        j.logs
    );
    let progress: Vec<(&str, f64, Option<&str>)> = j
        .progress
        .iter()
        .map(|p| (p.node.as_str(), p.percent, p.message.as_deref()))
        .collect();
    assert_eq!(
        progress,
        [
            ("a", 10.0, None),
            ("a", 50.0, Some("half way")),
            ("a", 100.0, Some("clamped")),
        ]
    );
    assert_eq!(
        serde_json::Value::Object(j.outputs.clone()),
        json!({"first": "replaced", "second": null})
    );
    // The journal is the record's, not the `POST /run` answer's.
    assert!(json.get("journal").is_none(), "{json}");
}

#[tokio::test]
async fn bad_progress_and_output_arguments_throw_and_the_caps_are_range_errors() {
    let wl = one_node(&format!(
        "export default (ctx) => {{
           const thrown = (f) => {{ try {{ f(); return 'no throw'; }} catch (e) {{ return e.name + ': ' + e.message; }} }};
           const r = {{}};
           r.percent = thrown(() => ctx.progress('10'));
           r.nan = thrown(() => ctx.progress(NaN));
           r.name = thrown(() => ctx.output('', 1));
           r.fn = thrown(() => ctx.output('f', () => 1));
           r.bigint = thrown(() => ctx.output('b', 1n));
           const cyclic = {{}}; cyclic.self = cyclic;
           r.cycle = thrown(() => ctx.output('c', cyclic));
           r.big = thrown(() => ctx.output('big', 'x'.repeat({big})));
           for (let i = 0; i < {max}; i++) ctx.output('o' + i, i);
           r.again = thrown(() => ctx.output('o0', 'same name is fine'));
           r.many = thrown(() => ctx.output('one-more', 1));
           return r;
         }}",
        big = limits::MAX_OUTPUT_BYTES,
        max = limits::MAX_OUTPUTS,
    ));
    let (out, json) = run_bounded(&sandbox(), &wl, json!({})).await;
    assert!(out.succeeded(), "{json}");
    let r = &json["output"];
    let starts = |k: &str, prefix: &str| {
        let s = r[k].as_str().unwrap();
        assert!(s.starts_with(prefix), "{k}: {s}");
        s.to_owned()
    };
    starts("percent", "TypeError: ctx.progress");
    starts("nan", "TypeError: ctx.progress");
    starts("name", "TypeError: ctx.output(name, value)");
    starts(
        "fn",
        "TypeError: ctx.output(\"f\"): the value is not JSON-serializable",
    );
    starts("bigint", "TypeError: ctx.output(\"b\")");
    starts("cycle", "TypeError: ctx.output(\"c\")");
    let big = starts("big", "RangeError: ctx.output(\"big\")");
    assert!(big.contains("65538 bytes"), "{big}");
    assert_eq!(r["again"], "no throw");
    starts(
        "many",
        "RangeError: ctx.output(\"one-more\"): a run keeps at most 32",
    );
    assert!(out.journal.progress.is_empty());
    assert_eq!(out.journal.outputs.len(), limits::MAX_OUTPUTS);
    assert_eq!(out.journal.outputs["o0"], "same name is fine");
}

#[tokio::test]
async fn secrets_are_redacted_in_logs_progress_and_outputs() {
    let wl = workload(
        "name: s\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js}\n",
        &[(
            "a.js",
            "export default (ctx) => {
               const t = ctx.secrets.token;
               ctx.log.info('token is', t);
               console.log(`console ${t}`);
               ctx.progress(1, 'using ' + t);
               ctx.output('leak', { t, nested: [t, 'ok'], [t]: 1 });
               ctx.output(t, 'name');
               ctx.output('number', 1234567890);
               ctx.output('b64', btoa(t));
               throw new Error('failed with ' + t);
             }",
        )],
        json!({"token": "s3cr3t-t0ken", "pin": "4567"}),
    );
    let (out, json) = run_bounded(&sandbox(), &wl, json!({})).await;
    assert_eq!(out.failure(), Some(FailureKind::Thrown));
    // Failed runs keep their journal too.
    let all = serde_json::to_string(&out.journal).unwrap();
    for secret in ["s3cr3t-t0ken", "4567", "czNjcjN0LXQwa2Vu"] {
        assert!(!all.contains(secret), "{secret} in {all}");
    }
    assert!(!json.to_string().contains("s3cr3t-t0ken"), "{json}");
    let j = &out.journal;
    assert_eq!(j.logs[0].message, "token is [REDACTED]");
    assert_eq!(j.logs[1].message, "console [REDACTED]");
    assert_eq!(j.progress[0].message.as_deref(), Some("using [REDACTED]"));
    assert_eq!(
        j.outputs["leak"],
        json!({"t": "[REDACTED]", "nested": ["[REDACTED]", "ok"], "[REDACTED]": 1})
    );
    assert_eq!(j.outputs["[REDACTED]"], "name");
    // A secret inside a number breaks the JSON once redacted: the redacted text is kept.
    assert_eq!(j.outputs["number"], "123[REDACTED]890");
    assert_eq!(j.outputs["b64"], "[REDACTED]");
}

#[tokio::test]
async fn each_run_has_its_own_journal_even_on_a_reused_realm() {
    let wl = one_node(
        "export default (ctx, i) => { ctx.log.info('run', i.n); ctx.progress(i.n); ctx.output('n' + i.n, i.n); return i.n; }",
    );
    let sb = single_worker();
    for n in 0..3 {
        let (out, json) = run_bounded(&sb, &wl, json!({"n": n})).await;
        assert!(out.succeeded(), "{json}");
        assert_eq!(out.journal.logs.len(), 1);
        assert_eq!(out.journal.logs[0].message, format!("run {n}"));
        assert_eq!(out.journal.progress.len(), 1);
        assert_eq!(
            serde_json::Value::Object(out.journal.outputs.clone()),
            json!({ format!("n{n}"): n })
        );
    }
    assert_eq!(
        wl.realms_created(),
        1,
        "the realm is reused across these runs"
    );
}

#[tokio::test]
async fn log_lines_past_the_cap_are_counted() {
    let wl = one_node(&format!(
        "export default (ctx) => {{ for (let i = 0; i < {}; i++) ctx.log.debug(i); return 1; }}",
        limits::MAX_LOG_LINES + 7
    ));
    let (out, _) = run_bounded(&sandbox(), &wl, json!({})).await;
    assert_eq!(out.journal.logs.len(), limits::MAX_LOG_LINES);
    assert_eq!(out.journal.dropped.logs, 7);
}

#[tokio::test]
async fn node_reports_have_attempts_and_start_offsets() {
    let wl = workload(
        "name: t\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js}\n  - {id: b, file: b.js, depends_on: [a]}\n  - {id: c, file: c.js, depends_on: [b]}\n",
        &[
            (
                "a.js",
                "export default async () => { await new Promise((r) => setTimeout(r, 20)); return 1; }",
            ),
            ("b.js", "export default () => { throw new Error('no') }"),
            ("c.js", "export default () => 3"),
        ],
        json!({}),
    );
    let (out, json) = run_bounded(&sandbox(), &wl, json!({})).await;
    assert_eq!(out.failure(), Some(FailureKind::Thrown), "{json}");
    let (a, b, c) = (
        out.nodes.get("a").unwrap(),
        out.nodes.get("b").unwrap(),
        out.nodes.get("c").unwrap(),
    );
    assert_eq!((a.status, a.attempts), (NodeStatus::Succeeded, 1));
    assert_eq!((b.status, b.attempts), (NodeStatus::Failed, 1));
    assert_eq!(
        (c.status, c.attempts, c.started_ms, c.duration_ms),
        (NodeStatus::Skipped, 0, 0.0, 0.0)
    );
    assert!(a.duration_ms >= 20.0, "{a:?}");
    // b starts once a has ended (µs rounding aside).
    assert!(
        b.started_ms + 0.002 >= a.started_ms + a.duration_ms,
        "{a:?} {b:?}"
    );
    assert!(
        out.duration.as_secs_f64() * 1000.0 + 0.002 >= b.started_ms + b.duration_ms,
        "{b:?} {:?}",
        out.duration
    );
    // `attempts` is in the answer; `started_ms` only in the record.
    assert_eq!(json["nodes"]["a"]["attempts"], 1);
    assert!(json["nodes"]["a"].get("started_ms").is_none());
}

/// `ctx.output` is one function for every run of a realm, so it must be frozen: a run that
/// could hang state on it would hand that state to the next.
#[tokio::test]
async fn the_shared_output_function_carries_nothing_between_runs() {
    let wl = one_node(
        "export default (ctx) => {
           const seen = ctx.output.leak;
           let threw = false;
           try { ctx.output.leak = 'from an earlier run'; } catch (e) { threw = e instanceof TypeError; }
           let protoThrew = false;
           try { ctx.output.prototype.x = 1; } catch (e) { protoThrew = e instanceof TypeError; }
           return { seen: seen ?? null, threw, protoThrew, frozen: Object.isFrozen(ctx.output), progressIsOwn: typeof ctx.progress };
         }",
    );
    let sb = single_worker();
    for _ in 0..2 {
        let (out, json) = run_bounded(&sb, &wl, json!({})).await;
        assert!(out.succeeded(), "{json}");
        assert_eq!(
            json["output"],
            json!({"seen": null, "threw": true, "protoThrew": true, "frozen": true, "progressIsOwn": "function"})
        );
    }
    assert_eq!(wl.realms_created(), 1);
}

/// The `Ctx` that `pipedreamer.d.ts` types (the file `init` writes) is the `ctx` nodes get:
/// the same members, and the file is valid TypeScript.
#[tokio::test]
async fn the_d_ts_types_every_ctx_member() {
    let dts = include_str!("../../../examples/hello/pipedreamer.d.ts");
    pipedreamer_sandbox::transpile::to_javascript("pipedreamer.d.ts", dts)
        .unwrap_or_else(|e| panic!("pipedreamer.d.ts is not valid TypeScript: {e}"));
    let body = dts
        .split("export interface Ctx {")
        .nth(1)
        .and_then(|rest| rest.split("\n}").next())
        .expect("an `export interface Ctx { … }` block");
    let mut typed: Vec<String> = body
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| {
            let l = l.trim_start().trim_start_matches("readonly ");
            let name: String = l.chars().take_while(|c| c.is_alphanumeric()).collect();
            (!name.is_empty()).then_some(name)
        })
        .collect();
    typed.sort();
    let wl = one_node("export default (ctx) => Object.keys(ctx).sort()");
    let (out, json) = run_bounded(&sandbox(), &wl, json!({})).await;
    assert!(out.succeeded(), "{json}");
    assert_eq!(json["output"], json!(typed));
    assert!(typed.contains(&"progress".to_owned()) && typed.contains(&"output".to_owned()));
}

/// A NUL in anything node code says would make the whole run record unstorable (PostgreSQL
/// text refuses it, `RunRecord::check` too): the journal and the error carry U+FFFD instead.
#[tokio::test]
async fn nul_characters_never_reach_the_journal_or_the_error() {
    let wl = one_node(
        "export default (ctx) => {
           ctx.log.info('bin\\0ary');
           ctx.progress(5, 'a\\0b');
           ctx.output('v', { 'k\\0': ['x\\0y', 1], plain: 'ok' });
           ctx.output('n\\0', 1);
           throw new Error('bad\\0byte');
         }",
    );
    let (out, json) = run_bounded(&sandbox(), &wl, json!({})).await;
    assert_eq!(out.failure(), Some(FailureKind::Thrown), "{json}");
    let j = &out.journal;
    assert_eq!(j.logs[0].message, "bin\u{FFFD}ary");
    assert_eq!(j.progress[0].message.as_deref(), Some("a\u{FFFD}b"));
    assert_eq!(
        j.outputs["v"],
        json!({"k\u{FFFD}": ["x\u{FFFD}y", 1], "plain": "ok"})
    );
    assert_eq!(j.outputs["n\u{FFFD}"], 1);
    let error = &out.error.as_ref().unwrap().message;
    assert!(error.starts_with("Error: bad\u{FFFD}byte"), "{error}");
    let all = format!("{}{}", serde_json::to_string(j).unwrap(), json);
    assert!(!all.contains("\\u0000") && !all.contains('\0'), "{all}");
}

/// Runs in flight together on one worker thread (each in its own pooled runtime) keep their
/// journals apart, retries and waits interleaving included.
#[tokio::test]
async fn concurrent_runs_on_one_worker_keep_their_journals_apart() {
    let wl = workload(
        "name: c\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js, retries: 1, retry_delay: 5ms}\n",
        &[(
            "a.js",
            "let attempts = 0;
             export default async (ctx, i) => {
               attempts++;
               ctx.log.info('run', i.n, 'attempt', attempts);
               await new Promise((r) => setTimeout(r, 1 + (i.n % 7)));
               ctx.progress(attempts * 50, 'run ' + i.n);
               if (attempts === 1) throw new Error('first attempt of ' + i.n);
               ctx.output('n', i.n);
               return i.n;
             }",
        )],
        json!({}),
    );
    let sb = Arc::new(single_worker());
    let runs = (0..24).map(|n| {
        let (sb, wl) = (sb.clone(), wl.clone());
        tokio::spawn(async move { (n, run_bounded(&sb, &wl, json!({ "n": n })).await) })
    });
    for handle in runs {
        let (n, (out, json)) = handle.await.unwrap();
        assert!(out.succeeded(), "{json}");
        let j = &out.journal;
        let logs: Vec<&str> = j.logs.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(logs.len(), 3, "{logs:?}");
        assert_eq!(logs[0], format!("run {n} attempt 1"));
        assert!(
            logs[1].starts_with(&format!(
                "attempt 2 of 2 after: Error: first attempt of {n} "
            )),
            "{logs:?}"
        );
        assert_eq!(logs[2], format!("run {n} attempt 2"));
        let progress: Vec<Option<&str>> = j.progress.iter().map(|p| p.message.as_deref()).collect();
        let mine = format!("run {n}");
        assert_eq!(progress, [Some(mine.as_str()); 2]);
        assert_eq!(
            serde_json::Value::Object(j.outputs.clone()),
            json!({ "n": n })
        );
        assert_eq!(out.nodes.get("a").unwrap().attempts, 2);
    }
}

/// A line that nothing keeps (the request keeps no logs, and these tests install no log
/// subscriber, so every level is filtered out) is not formatted: `%d` would call the
/// argument's `valueOf`, inspecting a proxy its `ownKeys` trap, and they are called only when
/// the run keeps its log lines. The same for every `console` method that prints arguments.
#[tokio::test]
async fn log_lines_nothing_keeps_are_not_formatted() {
    let wl = one_node(
        "export default (ctx) => {
           let formatted = 0;
           const probe = { valueOf() { formatted++; return 7; } };
           const proxy = new Proxy({}, { ownKeys() { formatted++; return []; } });
           ctx.log.info('%d', probe);
           ctx.log.error('%d', probe);
           console.log('%d', probe);
           console.warn('%d', probe);
           console.trace('%d', probe);
           console.assert(false, '%d', probe);
           console.dirxml('%d', probe);
           console.dir(proxy);
           console.table(proxy);
           console.group('%d', probe);
           console.groupEnd();
           console.time('t');
           console.timeLog('t', '%d', probe);
           console.timeEnd('t');
           return formatted;
         }",
    );
    let sb = sandbox();
    for keep_logs in [true, false] {
        let request = RunRequest {
            keep_logs,
            ..RunRequest::new("{}", Trigger::Http)
        };
        let out = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            sb.run(wl.clone(), request),
        )
        .await
        .expect("the run hung");
        assert!(out.succeeded(), "{:?}", out.error);
        let json = serde_json::to_value(&out).unwrap();
        let formatted = json["output"].as_u64().unwrap();
        let lines = out.journal.logs.len();
        if keep_logs {
            // Every call that prints arguments formatted them (the proxy may be inspected
            // more than once); `timeEnd` adds a line of its own.
            assert!(formatted >= 10, "{formatted} formatted");
            assert_eq!(lines, 12, "{:?}", out.journal.logs);
        } else {
            assert_eq!((formatted, lines), (0, 0));
        }
    }
}

//! URL, encoding and the fetch classes in real runs: what node code sees (Headers, Blob, File,
//! FormData, Request, Response, ReadableStream), the global `fetch` (the run's own `ctx.fetch`:
//! bytes both ways, the capability on every request, abort), and isolation between the runs
//! of a realm. The standards' own cases are in `web_compat.rs`.

mod common;

use common::*;
use pipedreamer_sandbox::*;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Runs `js` (the body of an async function of `(ctx, input)`) in one node and returns its
/// output, failing the test when the run fails.
async fn eval(js: &str) -> Value {
    let wl = one_node(&format!(
        "export default async (ctx, input) => {{\n{js}\n}}"
    ));
    output_of(&wl, json!({})).await
}

/// Runs `js` like [`eval`] and checks its output.
async fn expect(js: &str, expected: Value) {
    assert_eq!(eval(js).await, expected);
}

#[tokio::test]
async fn headers_follow_webidl() {
    expect(
        r#"
        const r = {};
        const h = new Headers([["B", " 1 "], ["a", "2"], ["Set-Cookie", "x=1"], ["set-cookie", "y=2"], ["b", "3"]]);
        r.sorted = [...h];
        r.get = [h.get("B"), h.get("set-cookie"), h.get("missing")];
        r.cookies = h.getSetCookie();
        h.set("b", "4"); h.delete("a");
        r.afterSet = [...h.keys()];
        r.record = [...new Headers({ "X-One": "1", "x-two": "2" })];
        r.copy = [...new Headers(new Headers({ a: "1" }))];
        const errors = [];
        for (const f of [() => new Headers([["bad name", "x"]]), () => new Headers({ "x": "a\nb" }), () => new Headers({ "é": "x" }),
          () => new Headers([["a"]]), () => h.append("x", "\0"), () => h.append("x", "\u0100")]) {
          try { f(); errors.push("accepted"); } catch (e) { errors.push(e.name); }
        }
        r.errors = errors;
        const res = Response.error();
        try { res.headers.set("a", "b"); r.immutable = "mutated"; } catch (e) { r.immutable = e.name; }
        r.tag = Object.prototype.toString.call(h);
        return r;
        "#,
        json!({
            "sorted": [["a", "2"], ["b", "1, 3"], ["set-cookie", "x=1"], ["set-cookie", "y=2"]],
            "get": ["1, 3", "x=1, y=2", null],
            "cookies": ["x=1", "y=2"],
            "afterSet": ["b", "set-cookie", "set-cookie"],
            "record": [["x-one", "1"], ["x-two", "2"]],
            "copy": [["a", "1"]],
            "errors": ["TypeError", "TypeError", "TypeError", "TypeError", "TypeError", "TypeError"],
            "immutable": "TypeError",
            "tag": "[object Headers]",
        }),
    )
    .await;
}

#[tokio::test]
async fn blobs_files_and_form_data() {
    expect(
        r#"
        const r = {};
        const b = new Blob(["héllo ", new Uint8Array([119, 111]), new Blob(["rld"])], { type: "Text/Plain;Charset=UTF-8" });
        r.blob = [b.size, b.type, await b.text(), [...await b.bytes()].length, (await b.arrayBuffer()).byteLength];
        r.slices = [await b.slice(-3).text(), await b.slice(1, 3, "x/y").text(), b.slice(1, 3, "X/Y").type, await b.slice(5, 2).text()];
        const chunks = []; for await (const c of b.stream()) chunks.push(c.length); r.stream = chunks;
        r.badType = new Blob([], { type: "a\u00e9" }).type;
        const f = new File(["abc"], "a.txt", { type: "text/plain", lastModified: 42 });
        r.file = [f.name, f.size, f.type, f.lastModified, f instanceof Blob, Object.prototype.toString.call(f)];
        const fd = new FormData();
        fd.append("a", "1"); fd.append("a", "2"); fd.append("file", f); fd.append("blob", new Blob(["x"]));
        fd.append("renamed", f, "b.txt"); fd.set("s", "x"); fd.set("a", "3");
        r.form = [...fd].map(([k, v]) => [k, typeof v === "string" ? v : `${v.constructor.name}:${v.name}:${v.size}`]);
        r.formGet = [fd.get("a"), fd.getAll("a"), fd.has("blob"), fd.get("missing")];
        fd.delete("s"); r.formHas = fd.has("s");
        // multipart there and back, through Request and Response
        const back = await new Response(fd).formData();
        r.multipart = await Promise.all([...back].map(async ([k, v]) => [k, typeof v === "string" ? v : [v.name, v.type, await v.text()]]));
        const req = new Request("https://example.com/", { method: "POST", body: fd });
        r.contentType = req.headers.get("content-type").startsWith("multipart/form-data; boundary=");
        return r;
        "#,
        json!({
            "blob": [12, "text/plain;charset=utf-8", "héllo world", 12, 12],
            "slices": ["rld", "é", "x/y", ""],
            "stream": [12],
            "badType": "",
            "file": ["a.txt", 3, "text/plain", 42, true, "[object File]"],
            "form": [["a", "3"], ["file", "File:a.txt:3"], ["blob", "File:blob:1"], ["renamed", "File:b.txt:3"], ["s", "x"]],
            "formGet": ["3", ["3"], true, null],
            "formHas": false,
            "multipart": [["a", "3"], ["file", ["a.txt", "text/plain", "abc"]], ["blob", ["blob", "application/octet-stream", "x"]], ["renamed", ["b.txt", "text/plain", "abc"]]],
            "contentType": true,
        }),
    )
    .await;
}

#[tokio::test]
async fn requests_and_responses_have_every_body_method() {
    expect(
        r#"
        const r = {};
        const res = new Response("héllo", { status: 201, statusText: "Made", headers: { "x-a": "1" } });
        r.meta = [res.status, res.statusText, res.ok, res.type, res.headers.get("content-type"), res.bodyUsed];
        const copy = res.clone();
        r.text = await res.text();
        r.used = res.bodyUsed;
        try { await res.text(); r.again = "read twice"; } catch (e) { r.again = e.name; }
        r.cloneBytes = [...await copy.bytes()];
        r.json = await new Response('{"a":[1]}').json();
        r.buffer = (await new Response(new Uint8Array([1, 2, 3])).arrayBuffer()).byteLength;
        const blob = await new Response("x", { headers: { "content-type": "text/csv" } }).blob();
        r.blob = [blob.type, blob.size];
        r.static = [Response.json({ k: 1 }, { status: 202 }).status, Response.json({ k: 1 }).headers.get("content-type"),
          Response.redirect("https://example.com/x", 301).headers.get("location"), Response.error().type, Response.error().status];
        r.empty = [new Response().body, await new Response().text(), new Response(null, { status: 204 }).body];
        const errors = [];
        for (const f of [() => new Response("x", { status: 204 }), () => new Response("", { status: 600 }), () => Response.redirect("https://a/", 200),
          () => new Request("/relative"), () => new Request("https://u:p@example.com/"), () => new Request("https://a/", { method: "GET", body: "x" }),
          () => new Request("https://a/", { method: "CONNECT" }), () => new Request("https://a/", { redirect: "sometimes" })]) {
          try { f(); errors.push("accepted"); } catch (e) { errors.push(e.name); }
        }
        r.errors = errors;
        const req = new Request(new URL("https://example.com/a?b=1"), { method: "put", body: new URLSearchParams({ q: "a b" }) });
        r.req = [req.method, req.url, req.headers.get("content-type"), req.redirect, await req.clone().text(), await req.text(), req.bodyUsed];
        const moved = new Request(new Request("https://example.com/", { method: "POST", body: "payload" }));
        r.moved = await moved.text();
        r.patch = new Request("https://a/", { method: "patch" }).method;
        r.plainObject = await new Request("https://a/", { method: "POST", body: { a: 1 } }).text();
        // a body given as a stream
        const streamed = new Response(new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode("ab")); c.enqueue(new TextEncoder().encode("c")); c.close(); } }));
        const [a, b] = [streamed.clone(), streamed];
        r.streamed = [await a.text(), await b.text()];
        const reader = new Response("xyz").body.getReader();
        const first = await reader.read();
        r.reader = [[...first.value], first.done, (await reader.read()).done];
        return r;
        "#,
        json!({
            "meta": [201, "Made", true, "default", "text/plain;charset=UTF-8", false],
            "text": "héllo",
            "used": true,
            "again": "TypeError",
            "cloneBytes": [104, 195, 169, 108, 108, 111],
            "json": {"a": [1]},
            "buffer": 3,
            "blob": ["text/csv", 1],
            "static": [202, "application/json", "https://example.com/x", "error", 0],
            "empty": [null, "", null],
            "errors": ["TypeError", "RangeError", "RangeError", "TypeError", "TypeError", "TypeError", "TypeError", "TypeError"],
            "req": ["PUT", "https://example.com/a?b=1", "application/x-www-form-urlencoded;charset=UTF-8", "follow", "q=a+b", "q=a+b", true],
            "moved": "payload",
            "patch": "patch",
            "plainObject": "{\"a\":1}",
            "streamed": ["abc", "abc"],
            "reader": [[120, 121, 122], false, true],
        }),
    )
    .await;
}

#[tokio::test]
async fn readable_streams_pull_cancel_and_error() {
    expect(
        r#"
        const r = {};
        let pulls = 0;
        const counted = new ReadableStream({ pull(c) { pulls++; if (pulls > 3) c.close(); else c.enqueue(pulls); } });
        const got = []; for await (const x of counted) got.push(x);
        r.pulled = got;
        let cancelled = null;
        const endless = new ReadableStream({ pull(c) { c.enqueue("x"); }, cancel(reason) { cancelled = reason; } });
        let n = 0; for await (const x of endless) { if (++n === 3) break; }
        r.cancelled = [n, cancelled, endless.locked];
        const failing = new ReadableStream({ start(c) { c.enqueue(1); c.error(new RangeError("broken")); } });
        try { for await (const x of failing) {} r.error = "none"; } catch (e) { r.error = e.message; }
        const s = new ReadableStream({ start(c) { c.enqueue("a"); } });
        const reader = s.getReader();
        try { s.getReader(); r.locked = "twice"; } catch (e) { r.locked = e.name; }
        reader.releaseLock();
        r.relocked = typeof s.getReader().read;
        const [t1, t2] = new ReadableStream({ start(c) { c.enqueue(1); c.enqueue(2); c.close(); } }).tee();
        const all = async (st) => { const out = []; for await (const x of st) out.push(x); return out; };
        r.tee = await Promise.all([all(t1), all(t2)]);
        try { new ReadableStream({ type: "bytes" }); r.bytes = "accepted"; } catch (e) { r.bytes = e.name; }
        r.desired = await new Promise((resolve) => new ReadableStream({ start(c) { resolve(c.desiredSize); } }, { highWaterMark: 4 }));
        const fromAsync = ReadableStream.from((async function* () { yield 1; yield 2; })());
        const fromArray = ReadableStream.from(["a", Promise.resolve("b")]);
        r.from = [await all(fromAsync), await all(fromArray)];
        try { ReadableStream.from(5); r.fromBad = "accepted"; } catch (e) { r.fromBad = e.name; }
        return r;
        "#,
        json!({
            "pulled": [1, 2, 3],
            "cancelled": [3, null, false],
            "error": "broken",
            "locked": "TypeError",
            "relocked": "function",
            "tee": [[1, 2], [1, 2]],
            "bytes": "RangeError",
            "desired": 4,
            "from": [[1, 2], ["a", "b"]],
            "fromBad": "TypeError",
        }),
    )
    .await;
}

/// What a local test server saw: each request's method, path, headers (lowercase) and body.
#[derive(Clone, Debug)]
struct Seen {
    head: String,
    head_bytes: Vec<u8>,
    body: Vec<u8>,
}

/// A local HTTP server: `/echo` answers with the request body (and its method and content type
/// in `x-method`, `x-content-type`), `/redirect` with a 302 to `/echo`, `/cookies` with two
/// `set-cookie` headers, `/slow` after 5 s. Records every request.
async fn echo_server() -> (std::net::SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let record = record.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = vec![0; 65536];
                let head_end = loop {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                let length = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                let mut body = buf[head_end + 4..].to_vec();
                while body.len() < length {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        break;
                    }
                    body.extend_from_slice(&chunk[..n]);
                }
                record.lock().unwrap().push(Seen {
                    head: head.clone(),
                    head_bytes: buf[..head_end].to_vec(),
                    body: body.clone(),
                });
                let mut first = head.lines().next().unwrap_or("").split(' ');
                let method = first.next().unwrap_or("").to_owned();
                let path = first.next().unwrap_or("").to_owned();
                let content_type = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-type")
                            .then(|| v.trim().to_owned())
                    })
                    .unwrap_or_default();
                let (status, extra, reply): (&str, String, Vec<u8>) = match path.as_str() {
                    "/redirect" => ("302 Found", "location: /echo\r\n".into(), Vec::new()),
                    "/cookies" => (
                        "200 OK",
                        // The last one is UTF-8 on the wire: it reads as Latin-1 (ByteString).
                        "set-cookie: a=1\r\nset-cookie: b=2\r\nx-utf8: \u{20ac}\r\n".into(),
                        b"ok".to_vec(),
                    ),
                    "/slow" => {
                        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                        ("200 OK", String::new(), b"late".to_vec())
                    }
                    _ => (
                        "200 OK",
                        format!(
                            "x-method: {method}\r\nx-content-type: {content_type}\r\ncontent-type: application/octet-stream\r\n"
                        ),
                        body,
                    ),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n",
                    reply.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&reply).await;
            });
        }
    });
    (addr, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_fetch_is_ctx_fetch_and_carries_bytes_both_ways() {
    let (addr, seen) = echo_server().await;
    let wl = one_node(&format!(
        r#"export default async (ctx) => {{
          const base = "http://{addr}";
          const r = {{ same: fetch === ctx.fetch }};
          const bytes = new Uint8Array(256).map((_, i) => i);
          const res = await fetch(base + "/echo", {{ method: "POST", body: bytes }});
          const back = new Uint8Array(await res.arrayBuffer());
          r.binary = [res.status, res.ok, res.type, back.length, back.every((b, i) => b === i), res.headers.get("content-type")];
          const viaRequest = await fetch(new Request(new URL(base + "/echo"), {{ method: "PUT", body: new URLSearchParams({{ a: "1 2" }}) }}));
          r.request = [viaRequest.headers.get("x-method"), viaRequest.headers.get("x-content-type"), await viaRequest.text()];
          const form = new FormData(); form.append("f", new File(["file body"], "f.txt", {{ type: "text/plain" }}));
          const parsed = await (await fetch(base + "/echo", {{ method: "POST", body: form }})).text();
          r.form = parsed.includes('filename="f.txt"') && parsed.includes("file body");
          const blob = await (await fetch(base + "/echo", {{ method: "POST", body: new Blob(["blob!"], {{ type: "text/x-blob" }}) }})).blob();
          r.blob = [await blob.text(), blob.type];
          r.json = await (await ctx.fetch(base + "/echo", {{ method: "POST", body: {{ k: [1] }} }})).json();
          const redirected = await fetch(base + "/redirect");
          r.redirect = [redirected.status, redirected.redirected, redirected.url.endsWith("/echo")];
          const manual = await fetch(base + "/redirect", {{ redirect: "manual" }});
          r.manual = [manual.status, manual.headers.get("location")];
          try {{ await fetch(base + "/redirect", {{ redirect: "error" }}); r.error = "followed"; }} catch (e) {{ r.error = e.name; }}
          const cookies = await fetch(base + "/cookies");
          r.cookies = cookies.headers.getSetCookie();
          r.latin1 = [...cookies.headers.get("x-utf8")].map((c) => c.charCodeAt(0));
          const sent = await fetch(base + "/echo", {{ headers: {{ "x-latin1": "caf\u00e9" }} }});
          r.sentLatin1 = sent.ok;
          try {{ cookies.headers.set("x", "y"); r.immutable = "mutated"; }} catch (e) {{ r.immutable = e.name; }}
          const streamed = await fetch(base + "/echo", {{ method: "POST", body: new ReadableStream({{ start(c) {{ c.enqueue(new Uint8Array([65, 66])); c.close(); }} }}) }});
          r.streamBody = await streamed.text();
          const head = await fetch(base + "/echo", {{ method: "HEAD" }});
          r.head = head.body;
          return r;
        }}"#
    ));
    assert_eq!(
        output_of(&wl, json!({})).await,
        json!({
            "same": true,
            "binary": [200, true, "basic", 256, true, "application/octet-stream"],
            "request": ["PUT", "application/x-www-form-urlencoded;charset=UTF-8", "a=1+2"],
            "form": true,
            "blob": ["blob!", "application/octet-stream"],
            "json": {"k": [1]},
            "redirect": [200, true, true],
            "manual": [302, "/echo"],
            "error": "TypeError",
            "cookies": ["a=1", "b=2"],
            "latin1": [0xe2, 0x82, 0xac],
            "sentLatin1": true,
            "immutable": "TypeError",
            "streamBody": "AB",
            "head": null,
        })
    );
    let seen = seen.lock().unwrap();
    let binary = &seen[0];
    assert_eq!(binary.body, (0..=255).collect::<Vec<u8>>());
    // A header value's chars are its bytes: é goes out as the one byte 0xE9.
    assert!(
        seen.iter()
            .any(|s| s.head_bytes.windows(13).any(|w| w == b"x-latin1: caf")
                && s.head_bytes.windows(4).any(|w| w == b"caf\xe9")),
        "no request carried x-latin1 as Latin-1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_fetch_obeys_the_allow_list_and_keeps_credentials_to_their_origin() {
    let (bound, bound_seen) = echo_server().await;
    let (other, other_seen) = echo_server().await;
    let wl = workload(
        &format!(
            "name: t\nversion: \"1\"\nnodes:\n  - {{id: a, file: a.js}}\nfetch:\n  allow: [127.0.0.1]\n  auth:\n    - {{host: \"127.0.0.1:{}\", secret: t, allow_http: true}}\n",
            bound.port()
        ),
        &[(
            "a.js",
            &format!(
                r#"export default async (ctx) => {{
                  const r = {{}};
                  const outcome = async (p) => {{ try {{ await p; return "reached"; }} catch (e) {{ return [e.name, e instanceof ctx.errors.NotCapable]; }} }};
                  r.refused = await outcome(fetch("https://elsewhere.example/"));
                  r.refusedRequest = await outcome(fetch(new Request("https://elsewhere.example/x", {{ method: "POST", body: "x" }})));
                  r.refusedUrl = await outcome(fetch(new URL("http://localhost:{other_port}/")));
                  r.scheme = await outcome(fetch("file:///etc/passwd"));
                  const bound = await fetch("http://{bound}/echo", {{ headers: {{ authorization: "mine" }} }});
                  r.boundHeaders = [...bound.headers].some(([k, v]) => v.includes("tok-123456"));
                  await fetch("http://{other}/echo", {{ headers: {{ host: "{bound}" }} }});
                  await fetch(new Request("http://{other}/echo"));
                  return r;
                }}"#,
                other = other,
                other_port = other.port(),
                bound = bound
            ),
        )],
        json!({"t": "tok-123456"}),
    );
    assert_eq!(
        output_of(&wl, json!({})).await,
        json!({
            "refused": ["NotCapable", true],
            "refusedRequest": ["NotCapable", true],
            "refusedUrl": ["NotCapable", true],
            "scheme": ["NotCapable", true],
            "boundHeaders": false,
        })
    );
    let bound_heads: Vec<String> = bound_seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.head.to_ascii_lowercase())
        .collect();
    assert_eq!(bound_heads.len(), 1);
    // The credential replaces whatever the node set for that header.
    assert!(
        bound_heads[0].contains("authorization: bearer tok-123456"),
        "{bound_heads:?}"
    );
    assert!(!bound_heads[0].contains("mine"), "{bound_heads:?}");
    let other_heads: Vec<String> = other_seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.head.to_ascii_lowercase())
        .collect();
    assert_eq!(other_heads.len(), 2);
    for head in &other_heads {
        assert!(!head.contains("tok-123456"), "{head}");
        assert!(
            head.contains(&format!("host: {other}")),
            "the node's Host header went out: {head}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_fetch_rejects_with_the_reason_and_drops_the_request() {
    let (addr, _) = echo_server().await;
    let wl = one_node(&format!(
        r#"export default async (ctx, input) => {{
          if (input.check) return "clean";
          const started = Date.now();
          const c = new AbortController();
          setTimeout(() => c.abort(), 50);
          const r = {{}};
          try {{ await fetch("http://{addr}/slow", {{ signal: c.signal }}); r.outcome = "finished"; }}
          catch (e) {{ r.outcome = [e.name, e === c.signal.reason]; }}
          try {{ await fetch("http://{addr}/slow", {{ signal: AbortSignal.abort(new RangeError("early")) }}); }}
          catch (e) {{ r.early = e.message; }}
          try {{ await fetch(new Request("http://{addr}/slow", {{ signal: AbortSignal.timeout(30) }})); }}
          catch (e) {{ r.timeout = e.name; }}
          r.fast = Date.now() - started < 3000;
          return r;
        }}"#
    ));
    let sb = single_worker();
    let (out, json) = run_bounded(&sb, &wl, json!({})).await;
    assert!(out.succeeded(), "{json}");
    assert_eq!(
        json["output"],
        json!({"outcome": ["AbortError", true], "early": "early", "timeout": "TimeoutError", "fast": true})
    );
    // Nothing was left in flight: the next run gets the same realm.
    let (out, json) = run_bounded(&sb, &wl, json!({"check": true})).await;
    assert!(out.succeeded(), "{json}");
    assert_eq!(
        wl.realms_created(),
        1,
        "the aborted fetches were still in flight"
    );
}

#[tokio::test]
async fn a_run_cannot_change_the_web_classes_for_later_runs() {
    let wl = one_node(
        r#"export default async (ctx, input) => {
          const attempts = {
            urlProto: () => { URL.prototype.toString = () => "evil"; },
            urlStatic: () => { URL.canParse = () => true; },
            paramsProto: () => { URLSearchParams.prototype.get = () => "evil"; },
            headersProto: () => { Headers.prototype.get = () => "evil"; },
            responseStatic: () => { Response.json = () => null; },
            responseProto: () => { Object.defineProperty(Response.prototype, "ok", { get: () => false }); },
            decoderProto: () => { TextDecoder.prototype.decode = () => "evil"; },
            encoder: () => { TextEncoder.prototype.encode = () => new Uint8Array(); },
            streamProto: () => { ReadableStream.prototype.getReader = () => null; },
            blobProto: () => { Blob.prototype.text = async () => "evil"; },
            fetchGlobal: () => { globalThis.fetch = async () => new Response("evil"); },
            atob: () => { globalThis.atob = () => "evil"; },
            formData: () => { FormData.prototype.append = () => {}; },
          };
          const results = {};
          for (const [k, f] of Object.entries(attempts)) {
            try { f(); results[k] = "mutated"; } catch (e) { results[k] = e.name; }
          }
          // Leave things open: a reader waiting on a stream that never ends, a stream with a
          // pending pull, a streaming decoder with half a character.
          const never = new ReadableStream({ pull() { return new Promise(() => {}); } });
          never.getReader().read();
          const decoder = new TextDecoder(); decoder.decode(new Uint8Array([0xE2]), { stream: true });
          results.clean = new URL("https://a.example/?x=1").searchParams.get("x") === "1"
            && new Headers({ a: "1" }).get("a") === "1" && (await Response.json({ k: 1 }).json()).k === 1
            && new TextDecoder().decode(new Uint8Array([0x61])) === "a" && atob("YQ==") === "a"
            && typeof fetch === "function" && fetch === ctx.fetch && new Response().ok === true;
          return results;
        }"#,
    );
    let sb = single_worker();
    let expected = json!({
        "urlProto": "TypeError", "urlStatic": "TypeError", "paramsProto": "TypeError", "headersProto": "TypeError",
        "responseStatic": "TypeError", "responseProto": "TypeError", "decoderProto": "TypeError", "encoder": "TypeError",
        "streamProto": "TypeError", "blobProto": "TypeError", "fetchGlobal": "TypeError", "atob": "TypeError",
        "formData": "TypeError", "clean": true,
    });
    for _ in 0..3 {
        let (out, json) = run_bounded(&sb, &wl, json!({})).await;
        assert!(out.succeeded(), "{json}");
        assert_eq!(json["output"], expected);
    }
    // An open reader or a half-decoded stream is the run's own garbage, not work left behind:
    // the realm serves the next runs.
    assert_eq!(wl.realms_created(), 1);
}

#[tokio::test]
async fn a_stream_that_keeps_pulling_after_its_run_does_not_reach_the_next_run() {
    let wl = one_node(
        r#"let pulls = 0;
        export default async (ctx, input) => {
          if (input.leave) {
            // A stream whose pulls keep queueing work; the run returns while it goes on.
            const s = new ReadableStream({ pull(c) { return Promise.resolve().then(() => { ctx.log.info("pulled"); c.enqueue(++pulls); }); } }, { highWaterMark: 1e9 });
            s.getReader().read();
          }
          return pulls;
        }"#,
    );
    let sb = single_worker();
    for leave in [true, false, true, false] {
        let (out, json) = run_bounded(&sb, &wl, json!({ "leave": leave })).await;
        if !leave {
            assert!(out.succeeded(), "{json}");
            assert_eq!(json["output"], 0, "another run's stream ran here: {json}");
        }
    }
}

#[tokio::test]
async fn web_class_errors_are_clear() {
    let out = eval(
        r#"
        const messages = [];
        for (const f of [() => new URL("nope"), () => new TextDecoder("klingon"), () => atob("!"), () => new Headers([["a b", "1"]]),
          () => new Request("/relative"), () => new Response("x", { status: 100 })]) {
          try { f(); } catch (e) { messages.push(`${e.name}: ${e.message}`); }
        }
        return messages;
        "#,
    )
    .await;
    let messages: Vec<&str> = out
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert_eq!(messages.len(), 6, "{messages:?}");
    for (message, expected) in messages.iter().zip([
        "TypeError: Invalid URL: \"nope\"",
        "RangeError: TextDecoder: the encoding label \"klingon\" is not supported",
        "InvalidCharacterError: atob: the string is not valid base64",
        "TypeError: Headers: \"a b\" is not a valid header name",
        "TypeError: Request: \"/relative\" is not an absolute URL",
        "RangeError: Response: status must be an integer from 200 to 599, not 100",
    ]) {
        assert_eq!(*message, expected);
    }
}

#[tokio::test]
async fn fetch_failures_stay_typed_through_run_outcomes() {
    // A refused global fetch that nobody catches fails the run with the capability's message.
    let wl = workload(
        "name: f\nversion: \"1\"\nfetch: {allow: [api.example.com]}\nnodes:\n  - {id: a, file: a.js}\n",
        &[(
            "a.js",
            "export default async () => { await fetch('http://127.0.0.1:9/'); }",
        )],
        json!({}),
    );
    let (out, json) = run_bounded(&sandbox(), &wl, json!({})).await;
    assert_eq!(out.failure(), Some(FailureKind::Thrown), "{json}");
    let message = json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("NotCapable") && message.contains("fetch.allow"),
        "{message}"
    );
}

/// Realm setup cost, measured from outside: runs that add a global make the worker set up a
/// fresh realm after each of them (before it takes the next run), runs that do not reuse one.
/// `cargo test --test web_data realm_setup_cost -- --ignored --nocapture` (a debug build gives a
/// relative number; `RUST_LOG=debug` on the engine shows `setup_us` per realm).
#[tokio::test]
#[ignore = "a measurement, not a check"]
async fn realm_setup_cost() {
    let wl =
        one_node("export default (ctx, input) => { if (input.fresh) globalThis.x = 1; return 1; }");
    let sb = single_worker();
    let runs = 200;
    let timed = |fresh: bool| {
        let (sb, wl) = (&sb, &wl);
        async move {
            let started = std::time::Instant::now();
            for _ in 0..runs {
                let (out, json) = run_bounded(sb, wl, json!({ "fresh": fresh })).await;
                assert!(out.succeeded(), "{json}");
            }
            started.elapsed() / runs
        }
    };
    timed(false).await;
    let reused = timed(false).await;
    let fresh = timed(true).await;
    println!(
        "realm setup: {:?} per realm (runs on a reused realm {reused:?}, with a new realm each {fresh:?})",
        fresh.saturating_sub(reused)
    );
}

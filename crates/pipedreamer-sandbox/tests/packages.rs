//! npm packages in nodes: real packages from the registry (tests/fixtures/npm, pinned by its
//! lockfile, installed once by scripts/npm-fixture.sh), CommonJS (`require`, cycles, JSON), the
//! `node:` builtins, and that no run can change a package or a builtin for a later run.

mod common;

use common::*;
use pipedreamer_sandbox::*;
use pipedreamer_spec::source::{DirSource, MemorySource};
use pipedreamer_spec::test_support;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;

/// A workflow directory with the fixture's `node_modules` and `files`, loaded; `None` (after a
/// loud message) only when npm is missing.
fn npm_workflow(files: &[(&str, &str)]) -> Option<(tempfile::TempDir, Arc<Workload>)> {
    let dir = test_support::npm_workflow(Path::new(env!("CARGO_TARGET_TMPDIR")), files)?;
    let program = Program::load(&DirSource::new(dir.path()))
        .unwrap_or_else(|d| panic!("{}", d.iter().map(|d| format!("{d}\n")).collect::<String>()));
    let wl = Arc::new(Workload::new(program, Secrets::new(json!({}))).0);
    Some((dir, wl))
}

/// The npm workflow with one node, `node.ts`.
fn npm_node(js: &str) -> Option<(tempfile::TempDir, Arc<Workload>)> {
    let yaml = "name: npm\nversion: \"1\"\nnodes:\n  - {id: a, file: node.ts, timeout: 20s}\n";
    npm_workflow(&[("workflow.yaml", yaml), ("node.ts", js)])
}

/// Runs `js` (a node of the npm workflow) once with `input`; returns its output.
async fn npm_run(js: &str, input: Value) -> Option<Value> {
    let (_dir, wl) = npm_node(js)?;
    let (out, json) = run_bounded(&sandbox(), &wl, input).await;
    assert!(out.succeeded(), "{json:#}");
    Some(json["output"].clone())
}

/// A one-node workflow from in-memory files (`node.js` plus `files`).
fn local(js: &str, files: &[(&str, &str)]) -> Arc<Workload> {
    let mut all = vec![
        (
            "workflow.yaml",
            "name: l\nversion: \"1\"\nnodes:\n  - {id: a, file: node.js}\n",
        ),
        ("node.js", js),
    ];
    all.extend_from_slice(files);
    let program = Program::load(&MemorySource::from_pairs(all))
        .unwrap_or_else(|d| panic!("{}", d.iter().map(|d| format!("{d}\n")).collect::<String>()));
    Arc::new(Workload::new(program, Secrets::new(json!({}))).0)
}

async fn run_once(wl: &Arc<Workload>) -> Value {
    let (out, json) = run_bounded(&sandbox(), wl, json!({})).await;
    assert!(out.succeeded(), "{json:#}");
    json["output"].clone()
}

#[tokio::test]
async fn zod_validates_input_and_reports_issues() {
    let Some(out) = npm_run(
        r#"import { z } from "zod";
        const User = z.object({ name: z.string().min(2), age: z.number().int().nonnegative(), email: z.email() });
        export default (ctx: any, input: any) => {
          const good = User.parse(input.good);
          const bad = User.safeParse(input.bad);
          return { good, ok: bad.success, paths: bad.error.issues.map((i: any) => i.path.join(".")).sort() };
        }"#,
        json!({"good": {"name": "Ada", "age": 36, "email": "ada@example.com"}, "bad": {"name": "A", "age": -1, "email": "nope"}}),
    )
    .await
    else {
        return;
    };
    assert_eq!(
        out,
        json!({"good": {"name": "Ada", "age": 36, "email": "ada@example.com"}, "ok": false, "paths": ["age", "email", "name"]})
    );
}

#[tokio::test]
async fn valibot_parses_and_rejects() {
    let Some(out) = npm_run(
        r#"import * as v from "valibot";
        const Schema = v.object({ id: v.pipe(v.string(), v.uuid()), tags: v.array(v.string()) });
        export default () => {
          const ok = v.safeParse(Schema, { id: "0c5b2444-70a0-4932-980c-b4dc0d3f02b5", tags: ["a"] });
          const bad = v.safeParse(Schema, { id: "x", tags: [1] });
          return [ok.success, bad.success, bad.issues.length];
        }"#,
        json!({}),
    )
    .await
    else {
        return;
    };
    assert_eq!(out, json!([true, false, 2]));
}

#[tokio::test]
async fn date_fns_formats_and_does_arithmetic() {
    let Some(out) = npm_run(
        r#"import { format, addDays, differenceInCalendarDays, parseISO } from "date-fns";
        export default () => {
          const d = parseISO("2024-02-27T10:00:00Z");
          return [format(addDays(d, 3), "yyyy-MM-dd"), differenceInCalendarDays(parseISO("2024-03-01"), parseISO("2024-02-01"))];
        }"#,
        json!({}),
    )
    .await
    else {
        return;
    };
    assert_eq!(out, json!(["2024-03-01", 29]));
}

#[tokio::test]
async fn lodash_es_and_commonjs_lodash_work() {
    let Some(out) = npm_run(
        r#"import { groupBy, sortBy } from "lodash-es";
        import _ from "lodash";
        import chunk from "lodash/chunk.js";
        export default () => ({
          es: groupBy([1.2, 1.8, 2.1], Math.floor),
          sorted: sortBy([{ n: 3 }, { n: 1 }], "n").map((o) => o.n),
          cjs: _.chunk([1, 2, 3, 4, 5], 2),
          template: _.template("hi <%= who %>")({ who: "you" }),
          deep: chunk(["a", "b", "c"], 2),
          version: typeof _.VERSION,
        })"#,
        json!({}),
    )
    .await
    else {
        return;
    };
    assert_eq!(
        out,
        json!({"es": {"1": [1.2, 1.8], "2": [2.1]}, "sorted": [1, 3], "cjs": [[1, 2], [3, 4], [5]],
               "template": "hi you", "deep": [["a", "b"], ["c"]], "version": "string"})
    );
}

#[tokio::test]
async fn uuid_and_nanoid_make_ids() {
    let Some(out) = npm_run(
        r#"import { v4, v7, validate, version } from "uuid";
        import { nanoid, customAlphabet } from "nanoid";
        export default () => {
          const a = v4(), b = v7();
          return [validate(a), version(a), validate(b), version(b), nanoid().length, /^[ab]{8}$/.test(customAlphabet("ab", 8)())];
        }"#,
        json!({}),
    )
    .await
    else {
        return;
    };
    assert_eq!(out, json!([true, 4, true, 7, 21, true]));
}

const RSA_JWK: &str = r##"{"kty": "RSA", "n": "tAsPFn2Ox1Q4Nju3ajs_2D6RQKTL1E8KbnAd4o4Swa7LeFNyrSSXn5TwGmwvYzQOAGfafeheBmKKV32_qw1N-fPNYTq8O4DPbD8b_RXJdr2hEKZ01hGiHqVtDrRJvcBGNby8n_38sdvo95_JsisLSdg8_ZR0gxXcKpUD-NLWTxgfmt8n5JjrNh2pEqs7fMGGw7VKPQX_adT4vjW6aoVq6PgwCjJnqP5XNa_hU5JDpntHsvm1FtfJQguJBnFLrmds_bUp2aMSOdR5qxD-bmLIV0pBHMhIRRBvRwTCVVebCUkXEf5ZXoo_QGaXkDibgcI7k78AisxCtdlCp3nDpcqOsw", "e": "AQAB", "d": "AwG-RkNhi42qBKnZpdIIfm2JEnnOF6UcSPzhWuPBh2-KYV-PZjnauGUN33sYDYGUjEgvu3OSgmvJ4K0ucsZdm4OJVgrbkujTTfz91Cu1eiCvnG4TPHH98aIUoK69HoikA4i747Yjrrq7-Mq33Rxf62NLnXaJvZizXRixAMpQnvCChiVmjtvyk5-MKnfplniPhi9D_6_vgLOeWtyzdVzxuUzIctNYqNR9sJ6QSktkUxUbmKgtaN0Bi126MhNgTcS53ud0xCeU6N_Yve7FhzERHH1LARNn_j5BbC9-oyHg5cppArFL7lkICkpkV31-e0rM73N_RoWxCEVxNcU1azJ0mQ", "p": "3MPJnVzVKBBGkhu_RJAReYQikpTVlE5FRn9Qzc5BwlJFdwlSPdzAHEpAmefpu2Ie3LFFw_vNtMrMbAdV6MoITbWUQ6ptEEqW7yUUCeQ-If6ltWplpqxNHu5mLtRdCLLuPwoH5WtMyHJL7Jtk8TawHqehnop4_VjXiPeCs0Qql6s", "q": "0MduQdg5T3gkjxEZj6-5DtQHn3Wuy47YEvds-ilTqP_VSAGCI-i-SLGaVk5g7ppVeeoD6z-p-E-niKKVgjNOA-KoZwkfEhVsLSIcbGuY8UwI445E6QRqCyBi-VYOGFISncRLcguS-sO2LZ2BOSMgF_OdgVbCAiBu9aHVVrB6PRk", "dp": "R08So7rlu1Aui2ldCdeDXX358OEUcBgsNk5PmnrCMPOELqQbJZJVl43AejY4AGf8UgsM3vZKBtju2QIxlMUVk4xQfN7i5b1CLbMLWvqXu0FW41efyAulyZT1-rBr8LBjVod173wOTDznG2FCZMvmbbB1-xD9bdAxprNUS3V8UIs", "dq": "ygw26AIZdI8Q0mP6GNQ2g-MufWOmhdj3w2MwU-kqzaLJBaZwC9ByVmeKtXuk00UI87NFl6VFGMn9mH2_swFzvs7bqtto9ldFGWipmUOH__1VnONSTS-4cIwnPKXLfj3vRj9xxCzvUT-WTw7ewCz-Ii_hfgo4N1asC4tSq1Ke-gE", "qi": "NRysN3pj0RowUnEVJlhjs0ARpD93yGPxReqc8_hS8EMEb0yfH-9xWtz6mrLknlHiaZLtBoPSotM3R4_Y3dY3ve62T_Z4j8l4siAcirXc0INaP8ZzKWDDABSBOrI-jz1fatd6It8N0L_3L7oKgbWaSIwdvgDTBNoh4eiWjsCPFDE"}"##;
const EC_JWK: &str = r##"{"kty": "EC", "x": "WdKalcZwFzxdXlROjt_6-v8a8tFynMWqbNrZD8bmmPg", "y": "PKOr6U0uUHiS6GjH3ZECtlh-1rPqVxNKSugcfVTjDP8", "crv": "P-256", "d": "4G0lTbVZElQa9L4yqC0ehQNPJQQa3ORTVsWzV5inFcs"}"##;

#[tokio::test]
async fn jose_signs_and_verifies_jwts_with_hs256_rs256_and_es256() {
    let js = r#"import { SignJWT, jwtVerify, importJWK, errors } from "jose";
    const publicOf = ({ d, p, q, dp, dq, qi, ...pub }: any) => pub;
    async function roundTrip(alg: string, priv: any, pub: any) {
      const jwt = await new SignJWT({ sub: "u1", scope: "read" }).setProtectedHeader({ alg }).setIssuedAt().setExpirationTime("5m").sign(priv);
      const { payload, protectedHeader } = await jwtVerify(jwt, pub);
      let tampered = "accepted";
      try { await jwtVerify(jwt.slice(0, -4) + (jwt.endsWith("AAAA") ? "BBBB" : "AAAA"), pub); } catch (e) { tampered = e instanceof errors.JWSSignatureVerificationFailed ? "refused" : String(e); }
      return [protectedHeader.alg, payload.sub, payload.scope, tampered];
    }
    export default async (ctx: any, input: any) => {
      const secret = new TextEncoder().encode("a-secret-of-at-least-32-bytes-long!!");
      const rsa = JSON.parse(input.rsa), ec = JSON.parse(input.ec);
      return [
        await roundTrip("HS256", secret, secret),
        await roundTrip("RS256", await importJWK(rsa, "RS256"), await importJWK(publicOf(rsa), "RS256")),
        await roundTrip("ES256", await importJWK(ec, "ES256"), await importJWK(publicOf(ec), "ES256")),
      ];
    }"#;
    let Some(out) = npm_run(js, json!({"rsa": RSA_JWK, "ec": EC_JWK})).await else {
        return;
    };
    assert_eq!(
        out,
        json!([
            ["HS256", "u1", "read", "refused"],
            ["RS256", "u1", "read", "refused"],
            ["ES256", "u1", "read", "refused"]
        ])
    );
}

#[tokio::test]
async fn yaml_papaparse_and_ajv_work() {
    let Some(out) = npm_run(
        r#"import YAML from "yaml";
        import Papa from "papaparse";
        import Ajv from "ajv";
        export default () => {
          const doc = YAML.parse("a: 1\nlist:\n  - x\n  - y\n");
          const csv = Papa.parse("name,n\nada,1\nbob,2\n", { header: true, dynamicTyping: true, skipEmptyLines: true });
          const ajv = new Ajv();
          const validate = ajv.compile({ type: "object", properties: { n: { type: "integer", minimum: 1 } }, required: ["n"] });
          return {
            doc, back: YAML.stringify({ k: [1, 2] }),
            csv: csv.data, unparsed: Papa.unparse([{ a: 1, b: "x,y" }]),
            valid: [validate({ n: 2 }), validate({ n: 0 }), validate.errors?.[0]?.keyword],
          };
        }"#,
        json!({}),
    )
    .await
    else {
        return;
    };
    assert_eq!(
        out,
        json!({
            "doc": {"a": 1, "list": ["x", "y"]}, "back": "k:\n  - 1\n  - 2\n",
            "csv": [{"name": "ada", "n": 1}, {"name": "bob", "n": 2}], "unparsed": "a,b\r\n1,\"x,y\"",
            "valid": [true, false, "minimum"]
        })
    );
}

#[tokio::test]
async fn dayjs_with_its_timezone_plugin() {
    let Some(out) = npm_run(
        r#"import dayjs from "dayjs";
        import utc from "dayjs/plugin/utc";
        import timezone from "dayjs/plugin/timezone";
        dayjs.extend(utc);
        dayjs.extend(timezone);
        export default () => [
          dayjs.utc("2024-07-01T12:00:00Z").tz("Europe/Berlin").format("YYYY-MM-DD HH:mm Z"),
          dayjs("2024-01-31").add(1, "month").format("YYYY-MM-DD"),
        ]"#,
        json!({}),
    )
    .await
    else {
        return;
    };
    assert_eq!(out, json!(["2024-07-01 14:00 +02:00", "2024-02-29"]));
}

#[tokio::test]
async fn commonjs_require_cycles_get_the_partial_exports_as_in_node() {
    let wl = local(
        r#"import a from "./lib/a.cjs";
        import { name } from "./lib/b.cjs";
        export default () => [a.seenFromB, a.done, name, a.b.name]"#,
        &[
            (
                "lib/a.cjs",
                "exports.done = false;\nconst b = require('./b.cjs');\nexports.b = b;\nexports.done = true;\n",
            ),
            (
                "lib/b.cjs",
                "const a = require('./a.cjs');\nexports.seen = a.done;\nexports.name = 'b';\nmodule.exports.seenA = a;\nrequire('./a.cjs').seenFromB = a.done;\n",
            ),
        ],
    );
    assert_eq!(run_once(&wl).await, json!([false, true, "b", "b"]));
}

#[tokio::test]
async fn json_files_import_and_require() {
    let wl = local(
        r#"import data from "./data.json" with { type: "json" };
        import reader from "./lib/reader.cjs";
        export default () => [data.list, reader.first, data === reader.data, Object.keys(data).length, data.polluted ?? null]"#,
        &[
            (
                "data.json",
                r#"{"list": [1, 2], "__proto__": {"polluted": true}}"#,
            ),
            (
                "lib/reader.cjs",
                "const data = require('../data.json');\nmodule.exports = { first: data.list[0], data };\n",
            ),
        ],
    );
    assert_eq!(run_once(&wl).await, json!([[1, 2], 1, true, 2, null]));
}

#[tokio::test]
async fn a_forbidden_require_inside_a_function_throws_not_capable_when_called() {
    let wl = local(
        r#"import opt from "./lib/optional.cjs";
        export default async (ctx) => {
          try { opt.fail() } catch (e) { if (!/lib\/optional\.cjs(\?commonjs)?:4:/.test(e.stack)) return "stack: " + e.stack }
          let dynamic;
          try { await import("node:child_process"); dynamic = "imported" } catch (e) { dynamic = e instanceof ctx.errors.NotCapable && /node:child_process/.test(e.message) }
          try { opt.readConfig(); return "no error" } catch (e) {
            return [e instanceof ctx.errors.NotCapable, e.name, /node:fs/.test(e.message), /lib\/optional.cjs/.test(e.message), opt.loaded, dynamic];
          }
        }"#,
        &[(
            "lib/optional.cjs",
            "exports.loaded = true;\nexports.readConfig = function () { return require('fs').readFileSync('/etc/passwd', 'utf8'); };\nexports.fail = () => {\n  throw new Error('on line 4');\n};\n",
        )],
    );
    assert_eq!(
        run_once(&wl).await,
        json!([true, "NotCapable", true, true, true, true])
    );
}

#[tokio::test]
async fn node_builtins_behave_like_node() {
    let wl = local(
        r#"import { Buffer } from "node:buffer";
        import path from "node:path";
        import { posix } from "path";
        import util, { format, inspect, promisify } from "node:util";
        import { types } from "node:util";
        import EventEmitter, { once } from "node:events";
        import assert from "node:assert";
        import { strict } from "node:assert";
        import { StringDecoder } from "node:string_decoder";
        import { format as formatUrl, parse, fileURLToPath } from "node:url";
        import lib from "./lib/uses-builtins.cjs";
        export default async (ctx) => {
          const b = Buffer.from("héllo wörld ✓");
          const bytes = Buffer.alloc(16);
          bytes.writeUInt32BE(0xdeadbeef, 0); bytes.writeBigInt64LE(-2n, 8); bytes.writeUInt16LE(513, 4);
          const emitter = new EventEmitter();
          const seen = [];
          emitter.on("x", (v) => seen.push(v)); emitter.once("x", (v) => seen.push("once " + v));
          emitter.emit("x", 1); emitter.emit("x", 2);
          const later = once(emitter, "ready"); emitter.emit("ready", 42);
          const decoder = new StringDecoder("utf8");
          const euro = Buffer.from("€");
          const decoded = decoder.write(euro.subarray(0, 1)) + "|" + decoder.write(euro.subarray(1)) + decoder.end();
          const asserts = [];
          try { assert.deepStrictEqual({ a: [1] }, { a: ["1"] }) } catch (e) { asserts.push(e.name, e.code) }
          assert.deepEqual({ a: [1] }, { a: ["1"] });
          try { strict.equal(1, "1") } catch (e) { asserts.push(e instanceof assert.AssertionError) }
          assert.throws(() => { throw new TypeError("bad") }, TypeError);
          await assert.rejects(Promise.reject(new Error("no")), /no/);
          let refused;
          try { fileURLToPath("file:///etc/passwd") } catch (e) { refused = e instanceof ctx.errors.NotCapable }
          const sleep = promisify((ms, cb) => cb(null, ms * 2));
          return {
            roundTrip: [b.toString("base64"), Buffer.from(b.toString("base64"), "base64").toString(), b.toString("hex").length,
              Buffer.from(b.toString("base64url"), "base64url").equals(b), Buffer.from("aGk", "base64").toString(), b.toString("latin1").length,
              Buffer.from("hi", "utf16le").toString("hex"), Buffer.byteLength("✓"), Buffer.isBuffer(b), b instanceof Uint8Array],
            ints: [bytes.readUInt32BE(0), bytes.readBigInt64LE(8).toString(), bytes.readUInt16LE(4), bytes.subarray(0, 4).toString("hex"),
              Buffer.concat([Buffer.from("a"), Buffer.from("b")]).toString(), Buffer.compare(Buffer.from("a"), Buffer.from("b")),
              b.indexOf("wörld"), b.slice(0, 1).toString(), Buffer.isBuffer(b.subarray(1))],
            path: [path.join("/a/b", "../c", "./d.txt"), path.resolve("x", "y"), path.relative("/a/b/c", "/a/d"), path.dirname("/a/b/c.txt"),
              path.basename("/a/b/c.txt", ".txt"), path.extname("x.tar.gz"), path.normalize("a//b/../c/"), path.parse("/home/u/f.txt"), posix === path.posix],
            util: [format("%s is %d years and %j", "Ada", 36.5, { a: 1 }), format("%o", [1]), inspect({ a: { b: { c: { d: 1 } } }, s: "x" }),
              inspect(new Map([[1, "a"]])), types.isDate(new Date()), types.isRegExp({}), await sleep(2), util.isDeepStrictEqual([1], [1])],
            events: [seen, await later, emitter.listenerCount("x")],
            decoded, asserts, refused,
            url: [formatUrl({ protocol: "https", hostname: "example.com", pathname: "/a", query: { q: "1 2" } }), parse("http://u@h.com:8080/p?q=1#f").port],
            cjs: lib,
          };
        }"#,
        &[(
            "lib/uses-builtins.cjs",
            "const { Buffer } = require('buffer');\nconst EventEmitter = require('events');\nconst util = require('util');\nfunction Old() { EventEmitter.call(this); }\nutil.inherits(Old, EventEmitter);\nconst o = new Old();\nlet got;\no.on('e', (v) => { got = v; });\no.emit('e', 'inherited');\nmodule.exports = [Buffer.from('cjs').toString('hex'), got, require('path').sep];\n",
        )],
    );
    let out = run_once(&wl).await;
    let expected = json!({
        "roundTrip": ["aMOpbGxvIHfDtnJsZCDinJM=", "héllo wörld ✓", 34, true, "hi", 17, "68006900", 3, true, true],
        "ints": [3735928559u32, "-2", 513, "deadbeef", "ab", -1, 7, "h", true],
        "path": ["/a/c/d.txt", "/x/y", "../../d", "/a/b", "c", ".gz", "a/c/",
                 {"root": "/", "dir": "/home/u", "base": "f.txt", "ext": ".txt", "name": "f"}, true],
        "util": ["Ada is 36.5 years and {\"a\":1}", "[ 1, [length]: 1 ]", "{ a: { b: { c: [Object] } }, s: 'x' }",
                 "Map(1) { 1 => 'a' }", true, false, 4, true],
        "events": [[1, "once 1", 2], [42], 1],
        "decoded": "|€",
        "asserts": ["AssertionError", "ERR_ASSERTION", true],
        "refused": true,
        "url": ["https://example.com/a?q=1%202", "8080"],
        "cjs": ["636a73", "inherited", "/"],
    });
    for key in expected.as_object().unwrap().keys() {
        assert_eq!(out[key], expected[key], "{key}: {out:#}");
    }
}

#[tokio::test]
async fn runs_cannot_change_packages_or_builtins_for_later_runs() {
    let wl = local(
        r#"import { Buffer } from "node:buffer";
        import EventEmitter from "node:events";
        import * as events from "node:events";
        import path from "node:path";
        import lib from "./lib/counter.cjs";
        export default () => {
          const before = { count: lib.count(), patched: lib.patched ?? null, bufferEvil: Buffer.prototype.evil ?? null,
            max: EventEmitter.defaultMaxListeners, join: path.join("a", "b"), extra: events.evil ?? null };
          const attempts = {
            bufferProto: () => { Buffer.prototype.evil = 1 },
            bufferFrom: () => { Buffer.from = () => "evil" },
            emitterProto: () => { EventEmitter.prototype.emit = () => false },
            maxListeners: () => { EventEmitter.defaultMaxListeners = 1 },
            pathJoin: () => { path.join = () => "evil" },
            namespace: () => { events.evil = 1 },
            defineOnNs: () => { Object.defineProperty(events, "once", { value: 1 }) },
          };
          const results = {};
          for (const [k, f] of Object.entries(attempts)) {
            try { f(); results[k] = "mutated" } catch (e) { results[k] = e instanceof TypeError ? "refused" : String(e) }
          }
          lib.patched = "by an earlier run";
          return { before, results };
        }"#,
        &[(
            "lib/counter.cjs",
            "let n = 0;\nmodule.exports = { count: () => ++n };\n",
        )],
    );
    let sb = single_worker();
    for _ in 0..3 {
        let (out, json) = run_bounded(&sb, &wl, json!({})).await;
        assert!(out.succeeded(), "{json:#}");
        assert_eq!(
            json["output"],
            json!({
                "before": {"count": 1, "patched": null, "bufferEvil": null, "max": 10, "join": "a/b", "extra": null},
                "results": {"bufferProto": "refused", "bufferFrom": "refused", "emitterProto": "refused",
                            "maxListeners": "refused", "pathJoin": "refused", "namespace": "refused", "defineOnNs": "refused"}
            }),
            "{json:#}"
        );
    }
    assert_eq!(
        wl.realms_created(),
        1,
        "the runs must have shared one realm"
    );
}

#[tokio::test]
async fn evaluated_code_cannot_import_builtins_or_packages_the_graph_does_not() {
    let wl = local(
        r#"import "node:path";
        export default async () => {
          const out = [];
          for (const s of ["node:buffer", "node:fs", "pipedreamer:node/commonjs", "pipedreamer:web/crypto", "./lib/x.cjs"]) {
            try { await import(s); out.push("imported " + s) } catch { out.push("refused") }
          }
          try { await (0, eval)('import("node:path")'); out.push("eval imported") } catch { out.push("refused") }
          return out;
        }"#,
        &[("lib/x.cjs", "module.exports = 1;\n")],
    );
    assert_eq!(
        run_once(&wl).await,
        json!([
            "refused", "refused", "refused", "refused", "refused", "refused"
        ])
    );
}

const EXAMPLE_TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjdXN0b21lci00MiIsInNjb3BlIjoib3JkZXJzOndyaXRlIiwiaXNzIjoiaHR0cHM6Ly9zaG9wLmV4YW1wbGUiLCJhdWQiOiJvcmRlcnMiLCJpYXQiOjE3NjQwMDAwMDB9.wqktJjqaLqonNY-7PNewOdOLTIA4sNCwESm3BK4m0k0";

/// `examples/zod-jose` (the benchmark workflow) with the fixture's `node_modules` (same zod and
/// jose versions as its lockfile).
fn zod_jose_example() -> Option<(tempfile::TempDir, Arc<Workload>)> {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/zod-jose");
    let read = |p: &str| std::fs::read_to_string(example.join(p)).unwrap();
    let (yaml, node) = (read("workflow.yaml"), read("nodes/verify.ts"));
    npm_workflow(&[("workflow.yaml", &yaml), ("nodes/verify.ts", &node)])
}

fn example_order(token: &str) -> Value {
    json!({"token": token, "order": {"id": "o-1", "email": "ada@example.com", "items": [{"sku": "BOOK-1", "quantity": 2, "price": 12.5}]}})
}

#[tokio::test]
async fn the_zod_jose_example_validates_and_verifies() {
    let Some((_dir, wl)) = zod_jose_example() else {
        return;
    };
    let sb = sandbox();
    let (_, json) = run_bounded(&sb, &wl, example_order(EXAMPLE_TOKEN)).await;
    assert_eq!(
        json["output"],
        json!({"ok": true, "customer": "customer-42", "order": "o-1", "total": 25}),
        "{json:#}"
    );
    let forged = format!("{}AAAA", &EXAMPLE_TOKEN[..EXAMPLE_TOKEN.len() - 4]);
    let (_, json) = run_bounded(&sb, &wl, example_order(&forged)).await;
    assert_eq!(
        json["output"],
        json!({"ok": false, "error": "token refused: ERR_JWS_SIGNATURE_VERIFICATION_FAILED"})
    );
    let (_, json) = run_bounded(&sb, &wl, json!({"token": "x", "order": {"id": ""}})).await;
    assert_eq!(json["output"]["ok"], false, "{json:#}");
    assert!(
        json["output"]["issues"].as_array().unwrap().len() >= 3,
        "{json:#}"
    );
}

/// Runs/s of the zod + jose example next to a node that imports nothing, on one worker, and
/// how many realms each needed (relative numbers: a debug build). `cargo test -p
/// pipedreamer-sandbox --test packages per_run_cost -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a measurement, not a check"]
async fn per_run_cost_of_packages() {
    let Some((_dir, zod_jose)) = zod_jose_example() else {
        return;
    };
    let plain =
        one_node("export default (ctx, input) => ({ ok: typeof input.token === 'string' })");
    for (name, wl) in [("no imports", &plain), ("zod + jose", &zod_jose)] {
        let sb = single_worker();
        let input = example_order(EXAMPLE_TOKEN);
        run_bounded(&sb, wl, input.clone()).await;
        let runs = 200;
        let started = std::time::Instant::now();
        let realms = wl.realms_created();
        for _ in 0..runs {
            let (out, json) = run_bounded(&sb, wl, input.clone()).await;
            assert!(out.succeeded(), "{json:#}");
        }
        let elapsed = started.elapsed();
        eprintln!(
            "{name}: {:.0} runs/s ({:.2} ms/run), {} realms for {runs} runs",
            runs as f64 / elapsed.as_secs_f64(),
            elapsed.as_secs_f64() * 1000.0 / runs as f64,
            wl.realms_created() - realms
        );
    }
}

/// What the node: builtins add to a realm's setup: runs that each need a new realm (they add a
/// global), with and without every builtin imported. `cargo test -p pipedreamer-sandbox --test
/// packages realm_setup -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a measurement, not a check"]
async fn realm_setup_cost_of_node_builtins() {
    let plain = one_node("export default () => { globalThis.leak = 1; return 1 }");
    let builtins = one_node(
        r#"import "node:buffer"; import "node:events"; import "node:util"; import "node:util/types";
        import "node:url"; import "node:path"; import "node:path/posix"; import "node:string_decoder";
        import "node:assert"; import "node:assert/strict"; import "node:crypto";
        export default () => { globalThis.leak = 1; return 1 }"#,
    );
    for (name, wl) in [("no builtins", &plain), ("every node: builtin", &builtins)] {
        let sb = single_worker();
        run_bounded(&sb, wl, json!({})).await;
        let runs = 100;
        let started = std::time::Instant::now();
        for _ in 0..runs {
            run_bounded(&sb, wl, json!({})).await;
        }
        eprintln!(
            "{name}: {:.2} ms per run with a new realm each",
            started.elapsed().as_secs_f64() * 1000.0 / runs as f64
        );
    }
}

#[tokio::test]
async fn a_run_that_patches_real_packages_leaves_nothing_for_the_next() {
    let Some((_dir, wl)) = npm_node(
        r#"import _ from "lodash";
        import { z } from "zod";
        import { v4 } from "uuid";
        export default () => {
          const seen: any = {
            chunk: typeof _.chunk([1], 1),
            ids: (z.globalRegistry as any)._idmap.size,
            mixin: typeof (_ as any).evil,
            message: z.number().safeParse("x").error!.issues[0].message,
          };
          (_ as any).chunk = () => "patched";
          _.mixin({ evil: () => 1 });
          z.globalRegistry.add(z.string(), { id: "leak-" + v4() });
          z.config({ customError: () => "hijacked" });
          return seen;
        }"#,
    ) else {
        return;
    };
    let sb = single_worker();
    for run in 0..3 {
        let (out, json) = run_bounded(&sb, &wl, json!({})).await;
        assert!(out.succeeded(), "{json:#}");
        assert_eq!(
            json["output"],
            json!({"chunk": "object", "ids": 0, "mixin": "undefined", "message": "Invalid input: expected number, received string"}),
            "run {run}: {json:#}"
        );
    }
}

//! Real packages from the npm registry (tests/fixtures/npm, pinned by its lockfile, installed by
//! scripts/npm-fixture.sh) resolved into one import graph.

use pipedreamer_spec::source::DirSource;
use pipedreamer_spec::test_support;
use pipedreamer_spec::{ImportTarget, ModuleKind, Resolved};
use std::path::Path;
use std::time::Instant;

/// A workflow directory under the target dir holding the fixture's `node_modules` (hard
/// links) and `files`; `None` (after a loud message) only when npm is missing.
fn npm_workflow(files: &[(&str, &str)]) -> Option<tempfile::TempDir> {
    test_support::npm_workflow(Path::new(env!("CARGO_TARGET_TMPDIR")), files)
}

const NODE: &str = r#"
import { z } from "zod";
import * as v from "valibot";
import { format, addDays } from "date-fns";
import { groupBy } from "lodash-es";
import _ from "lodash";
import { v4 as uuidv4, v7 as uuidv7 } from "uuid";
import { nanoid } from "nanoid";
import { SignJWT, jwtVerify, importJWK } from "jose";
import YAML from "yaml";
import Papa from "papaparse";
import Ajv from "ajv";
import dayjs from "dayjs";
import utc from "dayjs/plugin/utc";
import timezone from "dayjs/plugin/timezone";
import pkg from "../package.json" with { type: "json" };

export default async function run(ctx: any, input: any) {
  return { z, v, format, addDays, groupBy, _, uuidv4, uuidv7, nanoid, SignJWT, jwtVerify, importJWK, YAML, Papa, Ajv, dayjs, utc, timezone, pkg };
}
"#;

/// A workflow whose one node imports all of the fixture's packages.
fn all_packages() -> Option<tempfile::TempDir> {
    npm_workflow(&[
        (
            "workflow.yaml",
            "name: npm\nversion: \"1\"\nnodes:\n  - {id: all, file: nodes/all.ts}\n",
        ),
        ("nodes/all.ts", NODE),
    ])
}

#[test]
fn twelve_real_packages_resolve_into_one_graph() {
    let Some(dir) = all_packages() else {
        return;
    };
    let started = Instant::now();
    let resolved: Resolved = pipedreamer_spec::resolve(&DirSource::new(dir.path()))
        .unwrap_or_else(|d| panic!("{}", d.iter().map(|d| format!("{d}\n")).collect::<String>()));
    let elapsed = started.elapsed();
    let files = &resolved.modules.files;
    eprintln!(
        "resolved {} files, {} KiB, in {} ms, {} warning(s)",
        files.len(),
        resolved.modules.total_bytes() >> 10,
        elapsed.as_millis(),
        resolved.warnings.len()
    );
    for w in &resolved.warnings {
        eprintln!("{w}");
    }
    let entry = &files["nodes/all.ts"];
    let target_of = |specifier: &str| {
        let import = entry
            .imports
            .iter()
            .find(|i| i.specifier == specifier)
            .unwrap_or_else(|| panic!("no import of {specifier}"));
        match &import.target {
            ImportTarget::File(f) => f.clone(),
            other => panic!("{specifier} resolved to {other:?}"),
        }
    };
    // Each package's entry, the kind it loads as, and (where `exports` has one) the build
    // our conditions pick: worker/browser/import over node/require.
    let expected: &[(&str, &str, ModuleKind)] = &[
        ("zod", "node_modules/zod/", ModuleKind::EsModule),
        ("valibot", "node_modules/valibot/", ModuleKind::EsModule),
        ("date-fns", "node_modules/date-fns/", ModuleKind::EsModule),
        (
            "lodash-es",
            "node_modules/lodash-es/lodash.js",
            ModuleKind::EsModule,
        ),
        (
            "lodash",
            "node_modules/lodash/lodash.js",
            ModuleKind::CommonJs,
        ),
        ("uuid", "node_modules/uuid/dist", ModuleKind::EsModule),
        (
            "nanoid",
            "node_modules/nanoid/index.browser.js",
            ModuleKind::EsModule,
        ),
        (
            "jose",
            "node_modules/jose/dist/webapi/",
            ModuleKind::EsModule,
        ),
        ("yaml", "node_modules/yaml/browser/", ModuleKind::EsModule),
        (
            "papaparse",
            "node_modules/papaparse/papaparse.js",
            ModuleKind::CommonJs,
        ),
        ("ajv", "node_modules/ajv/dist/ajv.js", ModuleKind::CommonJs),
        (
            "dayjs",
            "node_modules/dayjs/dayjs.min.js",
            ModuleKind::CommonJs,
        ),
        (
            "dayjs/plugin/timezone",
            "node_modules/dayjs/plugin/timezone.js",
            ModuleKind::CommonJs,
        ),
        ("../package.json", "package.json", ModuleKind::Json),
    ];
    let mut wrong = Vec::new();
    for (specifier, prefix, kind) in expected {
        let target = target_of(specifier);
        let got = files[&target].kind;
        if !target.starts_with(prefix) || got != *kind {
            wrong.push(format!(
                "{specifier}: {target} ({got:?}), expected {prefix}… ({kind:?})"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Everything reached is inside the workflow; nothing of Node's forbidden builtins loads.
    for (path, file) in files {
        assert!(!path.starts_with('/') && !path.contains(".."), "{path}");
        for import in &file.imports {
            if let ImportTarget::Forbidden(name) = &import.target {
                assert!(!import.form.on_load(), "{path} loads {name}");
            }
        }
    }
    // Only what is imported: lodash-es has ~650 modules, date-fns thousands; the graph holds
    // what the entries reach, not whole packages.
    let under = |p: &str| files.keys().filter(|k| k.starts_with(p)).count();
    assert!(
        under("node_modules/ajv/") > 10,
        "{}",
        under("node_modules/ajv/")
    );
    assert!(files.len() < 2_500, "{}", files.len());

    // What an image holds (the workflow file, the graph's modules and manifests, nothing else
    // of node_modules) resolves to the same graph: the engine re-resolves it at start.
    let shipped = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    for rel in resolved
        .modules
        .needed()
        .into_iter()
        .chain(["workflow.yaml"])
    {
        let to = shipped.path().join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(dir.path().join(rel), to).unwrap();
    }
    let again = pipedreamer_spec::resolve(&DirSource::new(shipped.path()))
        .unwrap_or_else(|d| panic!("{}", d.iter().map(|d| format!("{d}\n")).collect::<String>()));
    assert!(again.modules.files.keys().eq(files.keys()));
    assert_eq!(again.modules.manifests, resolved.modules.manifests);
}

#[test]
fn missing_node_modules_says_npm_ci() {
    let Some(dir) = all_packages() else {
        return;
    };
    std::fs::remove_dir_all(dir.path().join("node_modules")).unwrap();
    let errors = pipedreamer_spec::resolve(&DirSource::new(dir.path())).unwrap_err();
    let missing: Vec<_> = errors
        .iter()
        .filter(|d| d.code == "missing-package")
        .collect();
    assert_eq!(missing.len(), 14, "{errors:#?}");
    assert!(
        missing.iter().all(|d| d
            .hint
            .as_deref()
            .unwrap_or_default()
            .starts_with("`node_modules` is missing: run `npm ci`")),
        "{missing:#?}"
    );
}

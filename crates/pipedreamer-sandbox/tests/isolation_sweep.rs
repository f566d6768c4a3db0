//! Cross-run isolation of everything node code can reach: a generic sweep of the objects shared
//! by the runs of one realm (`fixtures/isolation_sweep.js`), and targeted probes of the web
//! platform APIs and `node:` builtins for state one run could leave for the next.

mod common;
use common::*;
use serde_json::{Value, json};

const SWEEP: &str = include_str!("fixtures/isolation_sweep.js");

fn lines(v: &Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|l| format!("  {}\n", l.as_str().unwrap_or("?")))
                .collect()
        })
        .unwrap_or_else(|| format!("  {v}\n"))
}

// Every object reachable from globalThis and the `node:` builtins (through properties,
// prototypes and getters called on the objects that inherit them) is shared by the runs of a
// realm: each must be frozen, and none may be a container (Map, Set, buffer, Date, a class
// instance with private state, …) that freezing does not stop a run from changing.
#[tokio::test]
async fn no_shared_object_is_changeable() {
    let wl = one_node(SWEEP);
    let sb = single_worker();
    let (out, json) = run_bounded(&sb, &wl, json!({"phase": "list"})).await;
    assert!(out.succeeded(), "{json:#}");
    let o = &json["output"];
    assert!(
        o["reached"].as_u64().unwrap() > 1000,
        "the walk reached too little: {o}"
    );
    let problems = &o["problems"];
    assert!(
        problems.as_array().is_some_and(|a| a.is_empty()),
        "shared objects a run could change ({} reached):\n{}",
        o["reached"],
        lines(problems)
    );
}

// Whatever a run manages to write on every object it can reach (a property, a Map/Set/WeakMap
// entry, buffer bytes, a Date's time, a RegExp's lastIndex, an event listener), the next run of
// the same realm sees none of it.
#[tokio::test]
async fn what_a_run_writes_on_shared_objects_never_reaches_the_next_run() {
    let wl = one_node(SWEEP);
    let sb = single_worker();
    let (out, json) = run_bounded(&sb, &wl, json!({"phase": "write"})).await;
    assert!(out.succeeded(), "{json:#}");
    let (out, json) = run_bounded(&sb, &wl, json!({"phase": "read"})).await;
    assert!(out.succeeded(), "{json:#}");
    assert_eq!(
        wl.realms_created(),
        1,
        "the runs must have shared one realm"
    );
    let found = &json["output"]["found"];
    assert!(
        found.as_array().is_some_and(|a| a.is_empty()),
        "the second run saw what the first wrote:\n{}",
        lines(found)
    );
}

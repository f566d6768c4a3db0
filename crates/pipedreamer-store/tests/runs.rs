//! Run records against real databases: every case runs on SQLite and on PostgreSQL
//! (`PIPEDREAMER_TEST_POSTGRES`, see `common`).

// Shared with `store.rs`; this file uses only part of it.
#[allow(dead_code)]
mod common;

use common::deployment;
use pipedreamer_runs::{
    FailureKind, LogLevel, LogLine, NodeRecord, NodeStatus, Nodes, RunFailure, RunRecord, RunStatus,
};
use pipedreamer_store::{RunFilter, StoreError};

/// A realistic record: three nodes, a log line per node, an output; `failed` ones carry an
/// error.
fn run(id: &str, started_at: i64, trigger: &str, status: RunStatus) -> RunRecord {
    let node = |status| NodeRecord {
        status,
        attempts: 1,
        started_ms: 1.0,
        duration_ms: 2.5,
    };
    RunRecord {
        id: id.to_owned(),
        workflow: "hello".into(),
        version: "1.0.0".into(),
        trigger: trigger.to_owned(),
        status,
        started_at,
        ended_at: started_at + 12,
        nodes: Nodes(vec![
            ("parse".into(), node(NodeStatus::Succeeded)),
            ("greet".into(), node(NodeStatus::Succeeded)),
            (
                "send".into(),
                node(if status == RunStatus::Failed {
                    NodeStatus::Failed
                } else {
                    NodeStatus::Succeeded
                }),
            ),
        ]),
        logs: ["parse", "greet", "send"]
            .iter()
            .map(|n| LogLine {
                at_ms: 1.5,
                node: (*n).to_owned(),
                level: LogLevel::Info,
                message: format!("{n} says hi"),
            })
            .collect(),
        progress: vec![],
        outputs: serde_json::json!({"count": 3})
            .as_object()
            .cloned()
            .unwrap(),
        error: (status == RunStatus::Failed).then(|| RunFailure {
            node: Some("send".into()),
            message: "boom".into(),
            kind: FailureKind::Thrown,
        }),
        replay_of: None,
        input: Some(serde_json::json!({"name": "ada"})),
        output: None,
        dropped: Default::default(),
    }
}

fn ids(runs: &[RunRecord]) -> Vec<&str> {
    runs.iter().map(|r| r.id.as_str()).collect()
}

fn filter(deployment_id: &str) -> RunFilter {
    RunFilter {
        deployment_id: Some(deployment_id.to_owned()),
        ..RunFilter::default()
    }
}

fn invalid(err: StoreError) -> String {
    match err {
        StoreError::Invalid { what } => what,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

both_backends! {
    async fn runs_are_stored_whole_and_duplicates_ignored(db) {
        let store = db.open().await;
        let d = deployment(&store, "hello").await;
        let a = run("r-a", 1_000, "http", RunStatus::Succeeded);
        let b = run("r-b", 2_000, "cron:nightly", RunStatus::Failed);
        let reply = store.insert_runs(Some(&d.id), &[a.clone(), b.clone()]).await.unwrap();
        assert_eq!((reply.accepted, reply.duplicates), (2, 0));
        // A resend (lost reply) plus a new one, and a duplicate inside the same batch.
        let c = run("r-c", 3_000, "http", RunStatus::Succeeded);
        let reply = store
            .insert_runs(Some(&d.id), &[b.clone(), c.clone(), c.clone()])
            .await
            .unwrap();
        assert_eq!((reply.accepted, reply.duplicates), (1, 2));
        let stored = store.run("r-b").await.unwrap();
        assert_eq!(stored.deployment_id.as_deref(), Some(d.id.as_str()));
        assert_eq!(stored.record, b);
        let err = store.run("nope").await.unwrap_err();
        assert!(err.is_not_found());
        assert_eq!(err.to_string(), "run `nope` not found");
        // Runs of no deployment (dev) and an unknown deployment.
        store.insert_runs(None, &[run("r-dev", 500, "http", RunStatus::Succeeded)]).await.unwrap();
        assert_eq!(store.run("r-dev").await.unwrap().deployment_id, None);
        let err = store
            .insert_runs(Some("no-such-deployment"), &[run("r-x", 1, "http", RunStatus::Succeeded)])
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "deployment `no-such-deployment` not found");
        assert!(store.run("r-x").await.unwrap_err().is_not_found());
        assert_eq!(store.insert_runs(Some(&d.id), &[]).await.unwrap().accepted, 0);
    }

    async fn a_batch_larger_than_one_statement_is_one_transaction(db) {
        let store = db.open().await;
        let d = deployment(&store, "hello").await;
        let runs: Vec<RunRecord> = (0..250)
            .map(|i| run(&format!("r-{i:04}"), 10_000 + i, "http", RunStatus::Succeeded))
            .collect();
        let reply = store.insert_runs(Some(&d.id), &runs).await.unwrap();
        assert_eq!((reply.accepted, reply.duplicates), (250, 0));
        let listed = store
            .runs(&RunFilter { limit: 500, ..filter(&d.id) })
            .await
            .unwrap();
        assert_eq!(listed.len(), 250);
        assert_eq!(listed[0].id, "r-0249");
        // A batch that fails in its last statement (a NUL in a text column is refused by
        // PostgreSQL; on SQLite a run of a deleted deployment is) leaves nothing behind.
        let mut more: Vec<RunRecord> = (0..150)
            .map(|i| run(&format!("s-{i:04}"), 50_000 + i, "http", RunStatus::Succeeded))
            .collect();
        more[149].workflow = "bad\0name".into();
        match db.kind {
            common::Kind::Postgres => {
                store.insert_runs(Some(&d.id), &more).await.unwrap_err();
            }
            common::Kind::Sqlite => {
                more[149].workflow = "fine".into();
                store.insert_runs(Some("gone"), &more).await.unwrap_err();
            }
        }
        assert!(store.run("s-0000").await.unwrap_err().is_not_found());
    }

    async fn lists_filter_and_page_newest_first(db) {
        let store = db.open().await;
        let d = deployment(&store, "hello").await;
        let other = deployment(&store, "other").await;
        let mut runs = Vec::new();
        for i in 0..10i64 {
            let trigger = match i % 3 {
                0 => "http".to_owned(),
                1 => format!("cron:job{i}"),
                _ => "webhook:github".to_owned(),
            };
            let status = if i % 2 == 0 { RunStatus::Succeeded } else { RunStatus::Failed };
            runs.push(run(&format!("r{i}"), 1_000 * (i + 1), &trigger, status));
        }
        // Two runs starting in the same millisecond: ordered by id.
        runs.push(run("r5b", 6_000, "http", RunStatus::Succeeded));
        store.insert_runs(Some(&d.id), &runs).await.unwrap();
        store
            .insert_runs(Some(&other.id), &[run("o1", 99_000, "http", RunStatus::Succeeded)])
            .await
            .unwrap();

        let all = store.runs(&filter(&d.id)).await.unwrap();
        assert_eq!(ids(&all), ["r9", "r8", "r7", "r6", "r5b", "r5", "r4", "r3", "r2", "r1", "r0"]);
        // Every deployment's runs with no deployment filter.
        let everything = store.runs(&RunFilter::default()).await.unwrap();
        assert_eq!(everything[0].id, "o1");
        assert_eq!(everything.len(), 12);

        let failed = store
            .runs(&RunFilter { status: Some(RunStatus::Failed), ..filter(&d.id) })
            .await
            .unwrap();
        assert_eq!(ids(&failed), ["r9", "r7", "r5", "r3", "r1"]);
        // A kind matches its prefix; anything else is exact.
        let cron = store
            .runs(&RunFilter { trigger: Some("cron".into()), ..filter(&d.id) })
            .await
            .unwrap();
        assert_eq!(ids(&cron), ["r7", "r4", "r1"]);
        let exact = store
            .runs(&RunFilter { trigger: Some("cron:job4".into()), ..filter(&d.id) })
            .await
            .unwrap();
        assert_eq!(ids(&exact), ["r4"]);
        let http = store
            .runs(&RunFilter { trigger: Some("http".into()), ..filter(&d.id) })
            .await
            .unwrap();
        assert_eq!(ids(&http), ["r9", "r6", "r5b", "r3", "r0"]);
        let prefix_only = store
            .runs(&RunFilter { trigger: Some("cron:job".into()), ..filter(&d.id) })
            .await
            .unwrap();
        assert!(prefix_only.is_empty());
        let since = store
            .runs(&RunFilter { since: Some(8_000), ..filter(&d.id) })
            .await
            .unwrap();
        assert_eq!(ids(&since), ["r9", "r8", "r7"]);

        // Paging by cursor: pages of 3 cover everything once, in order, ties included.
        let mut seen = Vec::new();
        let mut before = None;
        loop {
            let page = store
                .runs(&RunFilter { limit: 3, before: before.clone(), ..filter(&d.id) })
                .await
                .unwrap();
            seen.extend(page.iter().map(|r| r.id.clone()));
            if page.len() < 3 {
                break;
            }
            before = page.last().map(|r| r.id.clone());
        }
        assert_eq!(seen, ids(&all));
        // Cursor and filters together.
        let page = store
            .runs(&RunFilter {
                status: Some(RunStatus::Succeeded),
                before: Some("r6".into()),
                ..filter(&d.id)
            })
            .await
            .unwrap();
        assert_eq!(ids(&page), ["r5b", "r4", "r2", "r0"]);

        let err = store
            .runs(&RunFilter { before: Some("gone".into()), ..filter(&d.id) })
            .await
            .unwrap_err();
        assert!(invalid(err).contains("run `gone` does not exist"));
        for limit in [0, 501] {
            let err = store.runs(&RunFilter { limit, ..filter(&d.id) }).await.unwrap_err();
            assert!(invalid(err).contains("1 to 500"));
        }
    }

    async fn retention_deletes_old_runs_only_and_runs_go_with_their_deployment(db) {
        let store = db.open().await;
        let d = deployment(&store, "hello").await;
        let other = deployment(&store, "other").await;
        store
            .insert_runs(
                Some(&d.id),
                &[
                    run("old", 1_000, "http", RunStatus::Succeeded),
                    run("edge", 5_000, "http", RunStatus::Succeeded),
                    run("new", 9_000, "http", RunStatus::Succeeded),
                ],
            )
            .await
            .unwrap();
        store
            .insert_runs(Some(&other.id), &[run("other-old", 2_000, "http", RunStatus::Failed)])
            .await
            .unwrap();
        store.insert_runs(None, &[run("dev-old", 3_000, "http", RunStatus::Failed)]).await.unwrap();
        assert_eq!(store.delete_runs_before(5_000).await.unwrap(), 3);
        let left = store.runs(&RunFilter::default()).await.unwrap();
        assert_eq!(ids(&left), ["new", "edge"]);
        assert_eq!(store.delete_runs_before(5_000).await.unwrap(), 0);

        // Deleting a deployment deletes its runs.
        store.insert_runs(Some(&other.id), &[run("o2", 9_500, "http", RunStatus::Failed)]).await.unwrap();
        store.delete_deployment(&d.id).await.unwrap();
        assert!(store.run("new").await.unwrap_err().is_not_found());
        assert_eq!(ids(&store.runs(&RunFilter::default()).await.unwrap()), ["o2"]);
    }

    async fn keep_latest_keeps_the_newest_of_one_owner(db) {
        let store = db.open().await;
        let d = deployment(&store, "hello").await;
        let dev: Vec<RunRecord> = (0..7)
            .map(|i| run(&format!("dev{i}"), 1_000 + i, "http", RunStatus::Succeeded))
            .collect();
        store.insert_runs(None, &dev).await.unwrap();
        store
            .insert_runs(Some(&d.id), &[run("dep0", 1, "http", RunStatus::Succeeded)])
            .await
            .unwrap();
        // Fewer runs than kept: nothing goes.
        assert_eq!(store.keep_latest_runs(None, 100).await.unwrap(), 0);
        assert_eq!(store.keep_latest_runs(None, 3).await.unwrap(), 4);
        let left = store.runs(&RunFilter::default()).await.unwrap();
        // The deployment's (older) run is not dev's to trim.
        assert_eq!(ids(&left), ["dev6", "dev5", "dev4", "dep0"]);
        assert_eq!(store.keep_latest_runs(Some(&d.id), 0).await.unwrap(), 1);
        assert_eq!(store.keep_latest_runs(None, 0).await.unwrap(), 3);
        assert!(store.runs(&RunFilter::default()).await.unwrap().is_empty());
    }

    async fn runs_survive_reopening_the_database(db) {
        let store = db.open().await;
        let d = deployment(&store, "hello").await;
        let r = run("kept", 1_000, "queue:orders", RunStatus::Failed);
        store.insert_runs(Some(&d.id), std::slice::from_ref(&r)).await.unwrap();
        store.close().await;
        let again = db.open().await;
        assert_eq!(again.run("kept").await.unwrap().record, r);
        let queue = again
            .runs(&RunFilter { trigger: Some("queue".into()), ..filter(&d.id) })
            .await
            .unwrap();
        assert_eq!(ids(&queue), ["kept"]);
    }
}

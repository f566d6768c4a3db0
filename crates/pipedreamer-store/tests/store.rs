//! The store against real databases: every case runs on SQLite and on PostgreSQL
//! (`PIPEDREAMER_TEST_POSTGRES`, see `common`).

mod common;

use std::collections::HashSet;
use std::time::Duration;

use sqlx::Connection;

use common::{deployment, new_deployment, push, sha};
use pipedreamer_store::{
    BuildOutcome, BuildStatus, CANCELLED_BY_USER, DeploymentPatch, DeploymentStatus, Enqueued,
    INTERRUPTED, LeaseState, NewBuild, Scope, Store, StoreError, Target, TokenRecord, Trigger,
    token_hash,
};

const LEASE: Duration = Duration::from_secs(30);

fn created(e: Enqueued) -> pipedreamer_store::Build {
    match e {
        Enqueued::Created(b) => b,
        Enqueued::Duplicate(id) => panic!("expected a new build, got a duplicate of {id}"),
    }
}

fn success() -> BuildOutcome {
    BuildOutcome {
        status: BuildStatus::Success,
        image: Some("127.0.0.1:5000/hello:1".to_owned()),
        image_digest: Some(format!("sha256:{}", "ab".repeat(32))),
        error_message: None,
    }
}

fn conflict(err: StoreError) -> String {
    match err {
        StoreError::Conflict { what } => what,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

both_backends! {
    async fn a_signed_out_session_stays_ended_and_expired_rows_go(db) {
        let store = db.open().await;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!(!store.session_ended("s1").await.unwrap());
        store.end_session("s1", now + 3600).await.unwrap();
        store.end_session("s1", now + 3600).await.unwrap();
        assert!(store.session_ended("s1").await.unwrap());
        assert!(!store.session_ended("s2").await.unwrap());
        // A row past its session's expiry is useless: the next sign-out deletes it.
        store.end_session("old", now - 10).await.unwrap();
        store.end_session("s3", now + 3600).await.unwrap();
        assert!(!store.session_ended("old").await.unwrap());
        assert!(store.session_ended("s1").await.unwrap());
    }

    async fn workspaces_are_found_by_id_or_name_and_unique(db) {
        let store = db.open().await;
        let team = store.create_workspace("team").await.unwrap();
        assert_eq!(store.workspace(&team.id).await.unwrap(), team);
        assert_eq!(store.workspace("team").await.unwrap(), team);
        assert_eq!(
            conflict(store.create_workspace("team").await.unwrap_err()),
            "a workspace named `team` already exists"
        );
        let err = store.workspace("nope").await.unwrap_err();
        assert!(err.is_not_found());
        assert_eq!(err.to_string(), "workspace `nope` not found");
        store.create_workspace("other").await.unwrap();
        let names: Vec<String> = store.workspaces().await.unwrap().into_iter().map(|w| w.name).collect();
        assert_eq!(names, ["team", "other"]);
    }

    async fn deployments_crud_with_conflicts_a_user_understands(db) {
        let store = db.open().await;
        let team = store.create_workspace("team").await.unwrap();
        let other = store.create_workspace("other").await.unwrap();
        let mut new = new_deployment(&team.id, "hello");
        new.subdomain = Some("hello".to_owned());
        new.description = "says hello".to_owned();
        let hello = store.create_deployment(new.clone()).await.unwrap();
        assert_eq!(hello.status, DeploymentStatus::Stopped);
        assert_eq!(hello.current_build_id, None);
        assert_eq!(store.deployment(&hello.id).await.unwrap(), hello);

        // Same name in the same workspace: 409 with both names.
        let mut again = new.clone();
        again.subdomain = None;
        assert_eq!(
            conflict(store.create_deployment(again.clone()).await.unwrap_err()),
            "a deployment named `hello` already exists in workspace `team`"
        );
        // Same subdomain anywhere: 409 naming it.
        let mut elsewhere = new_deployment(&other.id, "hello");
        elsewhere.subdomain = Some("hello".to_owned());
        assert_eq!(
            conflict(store.create_deployment(elsewhere.clone()).await.unwrap_err()),
            "subdomain `hello` is already used by another deployment"
        );
        // Same name in another workspace is fine.
        elsewhere.subdomain = None;
        let hello_other = store.create_deployment(elsewhere).await.unwrap();
        // An unknown workspace is not found, not a database error.
        let err = store.create_deployment(new_deployment("no-such-ws", "x")).await.unwrap_err();
        assert!(err.is_not_found(), "{err:?}");

        let world = store.create_deployment(new_deployment(&team.id, "world")).await.unwrap();
        let names: Vec<String> = store.deployments(&team.id).await.unwrap().into_iter().map(|d| d.name).collect();
        assert_eq!(names, ["hello", "world"]);
        assert_eq!(store.all_deployments().await.unwrap().len(), 3);

        // PATCH: fields it sets change, the rest stays; Some(None) clears the subdomain.
        let kube = Target::Kubernetes { namespace: Some("a".into()), context: None, registry: None, cluster_registry: None };
        let patched = store
            .update_deployment(&hello.id, DeploymentPatch {
                branch: Some("release".into()),
                auto_rebuild: Some(false),
                subdomain: Some(None),
                ..DeploymentPatch::default()
            })
            .await
            .unwrap();
        assert_eq!(patched.branch, "release");
        assert!(!patched.auto_rebuild);
        assert_eq!(patched.subdomain, None);
        assert_eq!(patched.description, "says hello");
        assert_eq!(patched.repo, hello.repo);
        assert!(patched.updated_at >= hello.updated_at);
        let err = store
            .update_deployment(&hello.id, DeploymentPatch { target: Some(kube), ..Default::default() })
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
        assert!(err.to_string().contains("cannot change from `local` to `kubernetes`"), "{err}");
        // The freed subdomain can be taken; then it conflicts again.
        store
            .update_deployment(&world.id, DeploymentPatch { subdomain: Some(Some("hello".into())), ..Default::default() })
            .await
            .unwrap();
        let err = store
            .update_deployment(&hello_other.id, DeploymentPatch { subdomain: Some(Some("hello".into())), ..Default::default() })
            .await
            .unwrap_err();
        assert_eq!(conflict(err), "subdomain `hello` is already used by another deployment");
        assert!(store.update_deployment("nope", DeploymentPatch::default()).await.unwrap_err().is_not_found());

        // State: None keeps the deployed build, STOPPED clears it.
        store.set_deployment_state(&hello.id, DeploymentStatus::Running, Some("b1")).await.unwrap();
        store.set_deployment_state(&hello.id, DeploymentStatus::Deploying, None).await.unwrap();
        let d = store.deployment(&hello.id).await.unwrap();
        assert_eq!((d.status, d.current_build_id.as_deref()), (DeploymentStatus::Deploying, Some("b1")));
        store.set_deployment_state(&hello.id, DeploymentStatus::Stopped, None).await.unwrap();
        assert_eq!(store.deployment(&hello.id).await.unwrap().current_build_id, None);
        assert!(store.set_deployment_state("nope", DeploymentStatus::Running, None).await.unwrap_err().is_not_found());

        // Ports: unique among deployments.
        store.set_local_port(&hello.id, 20000).await.unwrap();
        store.set_local_port(&world.id, 20001).await.unwrap();
        assert_eq!(
            conflict(store.set_local_port(&hello_other.id, 20000).await.unwrap_err()),
            "port `20000` is already used by deployment `hello`"
        );
        store.set_local_port(&hello.id, 20000).await.unwrap();
        assert_eq!(store.taken_ports().await.unwrap(), [20000, 20001]);
        assert_eq!(store.deployment(&hello.id).await.unwrap().local_port, Some(20000));

        // Secrets: names only, values for the pipeline, replaced as a whole.
        assert_eq!(store.secrets(&hello.id).await.unwrap(), None);
        assert!(store.secret_names(&hello.id).await.unwrap().is_empty());
        store.put_secrets(&hello.id, &serde_json::json!({"zeta": "1", "api_key": {"nested": true}})).await.unwrap();
        assert_eq!(store.secret_names(&hello.id).await.unwrap(), ["api_key", "zeta"]);
        store.put_secrets(&hello.id, &serde_json::json!({"only": "x"})).await.unwrap();
        assert_eq!(store.secrets(&hello.id).await.unwrap(), Some(serde_json::json!({"only": "x"})));
        assert!(matches!(store.put_secrets(&hello.id, &serde_json::json!(["x"])).await, Err(StoreError::Invalid { .. })));
        assert!(store.put_secrets("nope", &serde_json::json!({})).await.unwrap_err().is_not_found());
        assert!(store.secret_names("nope").await.unwrap_err().is_not_found());

        // The webhook secret is stored but never serialized.
        assert_eq!(d.webhook_secret, "s3cr3t");
        assert!(!serde_json::to_string(&d).unwrap().contains("s3cr3t"));

        // Delete cascades to builds, logs, secrets and report tokens.
        let build = created(store.enqueue_build(&hello.id, push(&sha(1), Some("d-1"))).await.unwrap());
        store.append_log(&build.id, "line").await.unwrap();
        store.insert_token(&TokenRecord {
            id: "report-1".into(), scope: Scope::Report, deployment_id: Some(hello.id.clone()),
            token_hash: token_hash("t"), created_at: 1, expires_at: None, revoked: false,
        }).await.unwrap();
        store.delete_deployment(&hello.id).await.unwrap();
        assert!(store.deployment(&hello.id).await.unwrap_err().is_not_found());
        assert!(store.build(&build.id).await.unwrap_err().is_not_found());
        assert!(store.logs_after(&build.id, 0).await.unwrap().is_empty());
        assert!(store.tokens().await.unwrap().is_empty());
        assert!(store.delete_deployment(&hello.id).await.unwrap_err().is_not_found());
        assert_eq!(store.taken_ports().await.unwrap(), [20001]);
        // Its delivery id went with it: the same delivery for another deployment builds.
        assert!(matches!(store.enqueue_build(&world.id, push(&sha(1), Some("d-1"))).await.unwrap(), Enqueued::Created(_)));
    }

    async fn enqueue_supersedes_a_pending_build(db) {
        let store = db.open().await;
        let d = deployment(&store, "hello").await;
        let first = created(store.enqueue_build(&d.id, push(&sha(1), Some("d-1"))).await.unwrap());
        assert_eq!(first.status, BuildStatus::Pending);
        assert_eq!(first.triggered_by, Trigger::Webhook);
        assert_eq!(first.commit_message.as_deref(), Some(format!("commit {}", sha(1)).as_str()));
        let second = created(store.enqueue_build(&d.id, push(&sha(2), Some("d-2"))).await.unwrap());
        let first = store.build(&first.id).await.unwrap();
        assert_eq!(first.status, BuildStatus::Cancelled);
        assert_eq!(first.error_message.unwrap(), format!("superseded by {}", &sha(2)[..12]));
        assert!(first.completed_at.is_some());
        assert!(second.created_at > first.created_at);

        // Without a commit (a manual deploy of the branch head).
        let manual = created(store.enqueue_build(&d.id, NewBuild {
            commit_hash: None, commit_message: None, branch: "main".into(),
            triggered_by: Trigger::Manual, delivery_id: None,
        }).await.unwrap());
        let second = store.build(&second.id).await.unwrap();
        assert_eq!(second.error_message.as_deref(), Some("superseded by a newer request"));

        // A delivery seen before answers with its build, whatever that build became.
        assert_eq!(
            store.enqueue_build(&d.id, push(&sha(9), Some("d-1"))).await.unwrap(),
            Enqueued::Duplicate(first.id.clone())
        );
        assert_eq!(store.build(&manual.id).await.unwrap().status, BuildStatus::Pending);
        assert_eq!(store.queue_depth().await.unwrap(), 1);
        // Unknown deployment.
        assert!(store.enqueue_build("nope", push(&sha(3), None)).await.unwrap_err().is_not_found());
    }

    async fn five_concurrent_enqueues_of_one_delivery_make_one_build(db) {
        let store = db.open().await;
        let other_server = db.open().await;
        let d = deployment(&store, "hello").await;
        for round in 0..5 {
            let delivery = format!("delivery-{round}");
            let tasks: Vec<_> = (0..5)
                .map(|i| {
                    let store = if i % 2 == 0 { store.clone() } else { other_server.clone() };
                    let (id, delivery) = (d.id.clone(), delivery.clone());
                    tokio::spawn(async move { store.enqueue_build(&id, push(&sha(round), Some(&delivery))).await })
                })
                .collect();
            let mut made = Vec::new();
            let mut duplicates = Vec::new();
            for t in tasks {
                match t.await.unwrap().expect("a race never fails an enqueue") {
                    Enqueued::Created(b) => made.push(b.id),
                    Enqueued::Duplicate(id) => duplicates.push(id),
                }
            }
            assert_eq!(made.len(), 1, "round {round}: one build per delivery, got {made:?}");
            assert!(duplicates.iter().all(|id| *id == made[0]), "{duplicates:?} vs {made:?}");
        }
        let builds = store.builds(&d.id, 100, None).await.unwrap();
        assert_eq!(builds.len(), 5);
        let deliveries: HashSet<_> = builds.iter().map(|b| b.delivery_id.clone().unwrap()).collect();
        assert_eq!(deliveries.len(), 5);
    }

    async fn twenty_concurrent_pushes_leave_one_pending_the_newest(db) {
        let store = db.open().await;
        let other_server = db.open().await;
        let d = deployment(&store, "hello").await;
        let running = created(store.enqueue_build(&d.id, push(&sha(0), Some("d-0"))).await.unwrap());
        let claimed = store.claim_build("w1", LEASE).await.unwrap().unwrap();
        assert_eq!(claimed.id, running.id);

        let tasks: Vec<_> = (1..=20)
            .map(|n| {
                let store = if n % 2 == 0 { store.clone() } else { other_server.clone() };
                let id = d.id.clone();
                tokio::spawn(async move {
                    store.enqueue_build(&id, push(&sha(n), Some(&format!("d-{n}")))).await
                })
            })
            .collect();
        for t in tasks {
            created(t.await.unwrap().expect("a race never fails an enqueue"));
        }
        let builds = store.builds(&d.id, 100, None).await.unwrap();
        assert_eq!(builds.len(), 21);
        let pending: Vec<_> = builds.iter().filter(|b| b.status == BuildStatus::Pending).collect();
        assert_eq!(pending.len(), 1, "{builds:#?}");
        assert_eq!(store.build(&running.id).await.unwrap().status, BuildStatus::Building);
        let pushes: Vec<_> = builds.iter().filter(|b| b.id != running.id).collect();
        // The pending one is the last request to commit: the newest of all.
        let newest = pushes.iter().max_by_key(|b| b.created_at).unwrap();
        assert_eq!(newest.id, pending[0].id);
        // Every other push was superseded by a newer one, and says by which commit.
        for b in pushes.iter().filter(|b| b.id != pending[0].id) {
            assert_eq!(b.status, BuildStatus::Cancelled);
            let reason = b.error_message.as_deref().unwrap();
            let by = reason.strip_prefix("superseded by ").unwrap_or_else(|| panic!("{reason}"));
            let successor = pushes
                .iter()
                .find(|s| s.commit_hash.as_deref().unwrap().starts_with(by))
                .unwrap_or_else(|| panic!("no build of commit {by}"));
            assert!(successor.created_at > b.created_at, "{b:?} superseded by older {successor:?}");
        }
        // The next claim runs the newest commit once the running build ends.
        assert_eq!(store.claim_build("w2", LEASE).await.unwrap(), None);
        assert!(store.finish_build(&running.id, "w1", success()).await.unwrap());
        let next = store.claim_build("w2", LEASE).await.unwrap().unwrap();
        assert_eq!(next.commit_hash, pending[0].commit_hash);
    }

    async fn concurrent_claims_never_build_one_deployment_twice(db) {
        let servers = [db.open().await, db.open().await];
        let store = &servers[0];
        let mut deployments = Vec::new();
        for name in ["a", "b", "c"] {
            deployments.push(deployment(store, name).await);
        }
        // 4 claimers on two "servers" at once; the claims as (worker, build).
        let claim_wave = || async {
            let tasks: Vec<_> = (0..4)
                .map(|w| {
                    let s = servers[w % 2].clone();
                    let worker = format!("worker-{w}");
                    tokio::spawn(async move {
                        let claimed = s.claim_build(&worker, LEASE).await.unwrap();
                        claimed.map(|b| (worker, b))
                    })
                })
                .collect();
            let mut claimed = Vec::new();
            for t in tasks {
                claimed.extend(t.await.unwrap());
            }
            let per_deployment: HashSet<_> = claimed.iter().map(|(_, b)| b.deployment_id.clone()).collect();
            assert_eq!(per_deployment.len(), claimed.len(), "two claims of one deployment: {claimed:#?}");
            claimed
        };
        for round in 0..5_u32 {
            for (i, d) in deployments.iter().enumerate() {
                created(store.enqueue_build(&d.id, push(&sha(round * 10 + u32::try_from(i).unwrap()), None)).await.unwrap());
            }
            let first = claim_wave().await;
            assert_eq!(first.len(), 3, "round {round}: one claim per deployment");
            // Newer pushes while they build are pending but not claimable.
            for d in &deployments {
                created(store.enqueue_build(&d.id, push(&sha(1000 + round), None)).await.unwrap());
            }
            assert!(claim_wave().await.is_empty(), "round {round}: claimed beside a BUILDING build");
            for (worker, b) in &first {
                assert_eq!(b.status, BuildStatus::Building);
                assert!(b.started_at.is_some());
                assert!(store.finish_build(&b.id, worker, success()).await.unwrap());
            }
            let second = claim_wave().await;
            assert_eq!(second.len(), 3, "round {round}: the newer pushes run next");
            for (worker, b) in &second {
                assert_eq!(b.commit_hash.as_deref(), Some(sha(1000 + round).as_str()));
                assert!(servers[1].finish_build(&b.id, worker, success()).await.unwrap());
            }
        }
        assert_eq!(store.queue_depth().await.unwrap(), 0);
        let counts = store.build_counts().await.unwrap();
        assert!(counts.contains(&(BuildStatus::Success, 30)), "{counts:?}");
    }

    async fn lease_renewal_and_cancel(db) {
        let store = db.open().await;
        let d = deployment(&store, "hello").await;
        let b = created(store.enqueue_build(&d.id, push(&sha(1), None)).await.unwrap());
        let claimed = store.claim_build("w1", Duration::from_secs(5)).await.unwrap().unwrap();
        assert_eq!(claimed.id, b.id);
        assert_eq!(store.renew_lease(&b.id, "w1", LEASE).await.unwrap(), LeaseState::Held);
        assert_eq!(store.renew_lease(&b.id, "w2", LEASE).await.unwrap(), LeaseState::Lost);
        // A renewed lease outlives the first one: nothing expires.
        assert!(store.fail_expired_leases().await.unwrap().is_empty());

        // Cancel while building: the worker learns it at its next renewal.
        let asked = store.request_cancel(&b.id).await.unwrap();
        assert_eq!(asked.status, BuildStatus::Building);
        assert!(asked.cancel_requested);
        assert_eq!(store.renew_lease(&b.id, "w1", LEASE).await.unwrap(), LeaseState::Cancelled);
        let outcome = BuildOutcome { status: BuildStatus::Cancelled, image: None, image_digest: None, error_message: Some("cancelled during build".into()) };
        assert!(store.finish_build(&b.id, "w1", outcome.clone()).await.unwrap());
        assert!(!store.finish_build(&b.id, "w1", outcome).await.unwrap(), "a finished build is not finished twice");
        let done = store.build(&b.id).await.unwrap();
        assert_eq!(done.status, BuildStatus::Cancelled);
        assert!(done.completed_at.is_some());
        assert_eq!(store.renew_lease(&b.id, "w1", LEASE).await.unwrap(), LeaseState::Lost);
        let err = store.request_cancel(&b.id).await.unwrap_err();
        assert!(conflict(err).contains("already finished (`CANCELLED`)"));

        // Cancel while pending: cancelled at once, never claimed.
        let p = created(store.enqueue_build(&d.id, push(&sha(2), None)).await.unwrap());
        let cancelled = store.request_cancel(&p.id).await.unwrap();
        assert_eq!(cancelled.status, BuildStatus::Cancelled);
        assert_eq!(cancelled.error_message.as_deref(), Some(CANCELLED_BY_USER));
        assert_eq!(store.claim_build("w1", LEASE).await.unwrap(), None);
        assert!(store.request_cancel("nope").await.unwrap_err().is_not_found());

        // A manual build learns its commit when its worker fetches; only that worker records it.
        let manual = created(store.enqueue_build(&d.id, NewBuild {
            commit_hash: None, commit_message: None, branch: "main".into(),
            triggered_by: Trigger::Manual, delivery_id: None,
        }).await.unwrap());
        store.claim_build("w1", LEASE).await.unwrap().unwrap();
        store.set_build_commit(&manual.id, "w2", &sha(7), "not w2's").await.unwrap();
        assert_eq!(store.build(&manual.id).await.unwrap().commit_hash, None);
        store.set_build_commit(&manual.id, "w1", &sha(7), "fix: the thing").await.unwrap();
        let fetched = store.build(&manual.id).await.unwrap();
        assert_eq!(fetched.commit_hash, Some(sha(7)));
        assert_eq!(fetched.commit_message.as_deref(), Some("fix: the thing"));
        assert!(store.finish_build(&manual.id, "w1", success()).await.unwrap());

        // A worker can only end a build with a finished status.
        created(store.enqueue_build(&d.id, push(&sha(3), None)).await.unwrap());
        let b = store.claim_build("w1", LEASE).await.unwrap().unwrap();
        let bad = BuildOutcome { status: BuildStatus::Pending, ..success() };
        assert!(matches!(store.finish_build(&b.id, "w1", bad).await, Err(StoreError::Invalid { .. })));
        assert!(!store.finish_build(&b.id, "w2", success()).await.unwrap(), "not w2's build");
        assert!(store.finish_build(&b.id, "w1", success()).await.unwrap());
        let b = store.build(&b.id).await.unwrap();
        assert_eq!((b.status, b.image.as_deref()), (BuildStatus::Success, Some("127.0.0.1:5000/hello:1")));
        assert!(b.image_digest.unwrap().starts_with("sha256:"));
    }

    async fn an_expired_lease_fails_the_build_as_interrupted(db) {
        let store = db.open().await;
        let a = deployment(&store, "a").await;
        let b = deployment(&store, "b").await;
        let short = created(store.enqueue_build(&a.id, push(&sha(1), None)).await.unwrap());
        let long = created(store.enqueue_build(&b.id, push(&sha(2), None)).await.unwrap());
        assert_eq!(store.claim_build("dead-server", Duration::from_millis(1)).await.unwrap().unwrap().id, short.id);
        assert_eq!(store.claim_build("live-server", LEASE).await.unwrap().unwrap().id, long.id);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(store.fail_expired_leases().await.unwrap(), std::slice::from_ref(&short.id));
        let failed = store.build(&short.id).await.unwrap();
        assert_eq!(failed.status, BuildStatus::Failed);
        assert_eq!(failed.error_message.as_deref(), Some(INTERRUPTED));
        assert!(failed.completed_at.is_some());
        // The dead server's worker, should it come back, finds its lease gone.
        assert_eq!(store.renew_lease(&short.id, "dead-server", LEASE).await.unwrap(), LeaseState::Lost);
        assert!(!store.finish_build(&short.id, "dead-server", success()).await.unwrap());
        assert_eq!(store.build(&long.id).await.unwrap().status, BuildStatus::Building);
        // The deployment can build again.
        created(store.enqueue_build(&a.id, push(&sha(3), None)).await.unwrap());
        assert!(store.claim_build("live-server", LEASE).await.unwrap().is_some());
        // SQLite start: everything building was interrupted, leases or not.
        let mut failed = store.fail_all_building().await.unwrap();
        failed.sort();
        assert_eq!(failed.len(), 2);
        assert!(failed.contains(&long.id));
        assert_eq!(store.build(&long.id).await.unwrap().error_message.as_deref(), Some(INTERRUPTED));
    }

    async fn logs_append_in_order_and_read_after_a_sequence(db) {
        let store = db.open().await;
        let d = deployment(&store, "hello").await;
        let b = created(store.enqueue_build(&d.id, push(&sha(1), None)).await.unwrap());
        assert!(store.logs_after(&b.id, 0).await.unwrap().is_empty());
        for (i, line) in ["fetch\n", "validate\n", "build ✓ ünïcode\n"].iter().enumerate() {
            assert_eq!(store.append_log(&b.id, line).await.unwrap(), i64::try_from(i).unwrap() + 1);
        }
        let all = store.logs_after(&b.id, 0).await.unwrap();
        assert_eq!(all.iter().map(|c| c.seq).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(all[2].text, "build ✓ ünïcode\n");
        let rest = store.logs_after(&b.id, 2).await.unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].seq, 3);
        assert!(store.logs_after(&b.id, 3).await.unwrap().is_empty());

        // Racing appenders (two servers) never share a number or lose a chunk.
        let other_server = db.open().await;
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let s = if i % 2 == 0 { store.clone() } else { other_server.clone() };
                let id = b.id.clone();
                tokio::spawn(async move { s.append_log(&id, &format!("chunk {i}\n")).await })
            })
            .collect();
        let mut seqs = Vec::new();
        for t in tasks {
            seqs.push(t.await.unwrap().unwrap());
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (4..=23).collect::<Vec<i64>>());
        assert_eq!(store.logs_after(&b.id, 0).await.unwrap().len(), 23);
        // Another build's log has its own numbers.
        let other = deployment(&store, "other").await;
        let ob = created(store.enqueue_build(&other.id, push(&sha(2), None)).await.unwrap());
        assert_eq!(store.append_log(&ob.id, "x").await.unwrap(), 1);
        assert!(store.append_log("nope", "x").await.unwrap_err().is_not_found());
    }

    async fn tokens_are_stored_as_hashes_and_revoked(db) {
        let store = db.open().await;
        // sha256("abc"), the FIPS 180-2 test vector.
        assert_eq!(token_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        let record = TokenRecord {
            id: "tok-1".into(), scope: Scope::Deploy, deployment_id: None,
            token_hash: token_hash("eyJ.secret.token"), created_at: 1_700_000_000_000,
            expires_at: Some(1_800_000_000_000), revoked: false,
        };
        store.insert_token(&record).await.unwrap();
        assert_eq!(conflict(store.insert_token(&record).await.unwrap_err()), "a token with id `tok-1` already exists");
        let admin = TokenRecord { id: "tok-0".into(), scope: Scope::Admin, expires_at: None, created_at: 1, ..record.clone() };
        store.insert_token(&admin).await.unwrap();
        assert_eq!(store.tokens().await.unwrap(), [admin.clone(), record.clone()]);
        assert!(!store.token_revoked("tok-1").await.unwrap());
        store.revoke_token("tok-1").await.unwrap();
        store.revoke_token("tok-1").await.unwrap();
        assert!(store.token_revoked("tok-1").await.unwrap());
        assert!(!store.token_revoked("tok-0").await.unwrap());
        assert!(store.token_revoked("unknown").await.unwrap(), "an unknown id is refused");
        assert!(store.revoke_token("unknown").await.unwrap_err().is_not_found());
        // A report token needs an existing deployment.
        let report = TokenRecord { id: "tok-2".into(), scope: Scope::Report, deployment_id: Some("nope".into()), ..record };
        assert!(store.insert_token(&report).await.unwrap_err().is_not_found());
    }

    async fn builds_page_newest_first_and_count_by_status(db) {
        let store = db.open().await;
        let d = deployment(&store, "hello").await;
        let mut ids = Vec::new();
        for n in 0..5 {
            let b = created(store.enqueue_build(&d.id, push(&sha(n), None)).await.unwrap());
            if n == 0 {
                store.claim_build("w", LEASE).await.unwrap().unwrap();
            }
            ids.push(b.id);
        }
        let page: Vec<String> = store.builds(&d.id, 2, None).await.unwrap().into_iter().map(|b| b.id).collect();
        assert_eq!(page, [ids[4].clone(), ids[3].clone()]);
        let next: Vec<String> = store.builds(&d.id, 2, Some(&ids[3])).await.unwrap().into_iter().map(|b| b.id).collect();
        assert_eq!(next, [ids[2].clone(), ids[1].clone()]);
        let last: Vec<String> = store.builds(&d.id, 10, Some(&ids[1])).await.unwrap().into_iter().map(|b| b.id).collect();
        assert_eq!(last, [ids[0].clone()]);
        assert!(store.builds(&d.id, 10, Some("nope")).await.unwrap_err().is_not_found());
        assert!(store.builds("other", 10, None).await.unwrap().is_empty());
        let counts = store.build_counts().await.unwrap();
        assert_eq!(counts, [
            (BuildStatus::Pending, 1), (BuildStatus::Building, 1), (BuildStatus::Success, 0),
            (BuildStatus::Failed, 0), (BuildStatus::Cancelled, 3),
        ]);
        assert_eq!(store.queue_depth().await.unwrap(), 1);
        store.ping().await.unwrap();
    }

    async fn migrations_are_idempotent_on_reopen(db) {
        let store = db.open().await;
        let team = store.create_workspace("team").await.unwrap();
        store.close().await;
        assert!(store.ping().await.is_err(), "a closed store answers errors");
        // Several servers starting at once on one database migrate once.
        let (a, b, c) = tokio::join!(db.open(), db.open(), db.open());
        assert_eq!(a.workspace("team").await.unwrap(), team);
        b.ping().await.unwrap();
        c.create_workspace("second").await.unwrap();
        assert_eq!(a.workspaces().await.unwrap().len(), 2);
        let expected = match db.kind {
            common::Kind::Sqlite => pipedreamer_store::Backend::Sqlite,
            common::Kind::Postgres => pipedreamer_store::Backend::Postgres,
        };
        assert_eq!(a.backend(), expected);
        // Each migration (three) recorded once however often the database was opened.
        let mut raw = sqlx::AnyConnection::connect(&db.url).await.unwrap();
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(&mut raw)
            .await
            .unwrap();
        assert_eq!(applied, 3);
        if db.kind == common::Kind::Sqlite {
            // WAL (readers beside the writer) is a property of the file, set on open.
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut raw).await.unwrap();
            assert_eq!(mode, "wal");
        }
    }
}

#[tokio::test]
async fn a_bad_url_says_what_works() {
    let err = Store::open("redis://user:pw@localhost/0")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("only `sqlite:` and `postgres:`"),
        "{err}"
    );
    assert!(!err.to_string().contains("pw@"), "{err}");
}

#[tokio::test]
async fn a_refused_postgres_login_does_not_echo_the_password() {
    let Some(url) = common::postgres_url() else {
        return;
    };
    let wrong = url.replacen(
        "://pipedreamer:pipedreamer@",
        "://pipedreamer:wrong-hunter2@",
        1,
    );
    assert_ne!(wrong, url, "the test expects the role pipedreamer in {url}");
    let err = Store::open(&wrong).await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("password authentication failed"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

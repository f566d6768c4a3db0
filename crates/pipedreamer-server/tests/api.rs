//! The REST API against a real store, on SQLite and PostgreSQL: deployments, validation,
//! scopes on every route (walking the OpenAPI document), secrets, builds, metrics.

mod common;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use common::{Db, PUBLIC_URL, ctx};
use pipedreamer_store::{BuildStatus, Scope};
use serde_json::{Value, json};

async fn deployments_crud(db: Db) {
    let c = ctx(db).await;
    let ws = c.workspace("team-a").await;
    // `:ws` accepts the name too.
    let d = c
        .deployment("team-a", "orders", json!({"description": "orders API"}))
        .await;
    let id = d["id"].as_str().unwrap();
    assert_eq!(d["workspace_id"], ws);
    assert_eq!(d["branch"], "main");
    assert_eq!(d["path"], ".");
    assert_eq!(d["auto_rebuild"], true);
    assert_eq!(d["status"], "STOPPED");
    assert_eq!(
        d["url"],
        Value::Null,
        "kubernetes targets have no url until routing exists"
    );
    assert_eq!(
        d["webhook_url"],
        format!("{PUBLIC_URL}/api/deployments/{id}/webhook")
    );
    let secret = d["webhook_secret"].as_str().unwrap();
    assert_eq!(secret.len(), 64, "32 random bytes as hex");
    assert_eq!(
        d["target"],
        json!({"type": "kubernetes", "namespace": "team-a", "context": null, "registry": "registry.example.test", "cluster_registry": null})
    );

    // Read tokens see everything but the webhook secret.
    let path = format!("/api/deployments/{id}");
    let r = c.get(&path, &c.read).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.json.get("webhook_secret").is_none(), "{}", r.text);
    assert!(!r.text.contains(secret));
    let r = c.get(&path, &c.deploy).await;
    assert!(!r.text.contains(secret));
    let r = c.get(&path, &c.admin).await;
    assert_eq!(r.json["webhook_secret"], secret);
    let r = c
        .get(&format!("/api/workspaces/{ws}/deployments"), &c.read)
        .await;
    assert_eq!(r.json["deployments"].as_array().unwrap().len(), 1);
    assert!(!r.text.contains(secret));

    // A target this server cannot serve: 400 with the workers' hint (`check_target`).
    let r = c
        .create_deployment(
            "team-a",
            json!({"name": "no-registry", "repo": "https://x.test/r", "target": {"type": "kubernetes"}}),
        )
        .await
        .expect(StatusCode::BAD_REQUEST);
    assert!(r.error().contains("needs a registry"), "{}", r.text);
    assert!(
        r.json["hint"].as_str().unwrap().contains("target.registry"),
        "{}",
        r.text
    );

    // Duplicates.
    let r = c
        .create_deployment(
            "team-a",
            json!({"name": "orders", "repo": "https://github.com/acme/x.git", "target": {"type": "kubernetes", "registry": "r.test"}}),
        )
        .await
        .expect(StatusCode::CONFLICT);
    assert!(r.json["error"].is_string());
    let r = c
        .post("/api/workspaces", &c.admin, json!({"name": "team-a"}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    // Field-by-field validation.
    for (body, error) in [
        (
            json!({"name": "Orders!", "repo": "https://x.test/r"}),
            "name: must be a DNS-1123 label",
        ),
        (
            json!({"name": "a", "repo": "ftp://x"}),
            "repo: must be an http(s) or file URL, or an absolute path",
        ),
        (
            json!({"name": "a", "repo": "https://u:tok@x.test/r"}),
            "repo: must not contain credentials",
        ),
        (
            json!({"name": "a", "repo": "https://x.test/r", "branch": "a..b"}),
            "branch: is not a valid git branch name",
        ),
        (
            json!({"name": "a", "repo": "https://x.test/r", "path": "../up"}),
            "path: must be a relative path inside the repository without `..`",
        ),
        (
            json!({"name": "a", "repo": "https://x.test/r", "subdomain": "No"}),
            "subdomain: must be a DNS-1123 label",
        ),
    ] {
        let r = c
            .create_deployment("team-a", body)
            .await
            .expect(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.json["error"], error);
    }
    let r = c
        .create_deployment(
            "team-a",
            json!({"name": "a", "repo": "https://x.test/r", "colour": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.error().contains("unknown field `colour`"), "{}", r.text);

    // Not JSON / broken JSON / too large.
    let req = c
        .authorized(Method::POST, "/api/workspaces", &c.admin)
        .header("content-type", "text/plain")
        .body(Body::from("name=x"))
        .unwrap();
    let r = c.send(req).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(r.json["hint"], "send `Content-Type: application/json`");
    let req = c
        .authorized(Method::POST, "/api/workspaces", &c.admin)
        .header("content-type", "application/json")
        .body(Body::from("{\"name\": "))
        .unwrap();
    assert_eq!(c.send(req).await.status, StatusCode::BAD_REQUEST);
    let big = json!({"name": "x", "description": "y".repeat(2 * 1024 * 1024)});
    c.create_deployment("team-a", big)
        .await
        .expect(StatusCode::PAYLOAD_TOO_LARGE);

    // PATCH: immutable fields (409: the body is valid, it conflicts with the deployment as it
    // is), then a real change.
    let r = c.patch(&path, json!({"name": "other"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json["error"], "name: is immutable");
    let r = c.patch(&path, json!({"target": {"type": "local"}})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json["error"], "target.type: is immutable (`kubernetes`)");
    let r = c
        .patch(
            &path,
            json!({"name": "orders", "branch": "release", "auto_rebuild": false, "subdomain": "orders"}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(r.json["branch"], "release");
    assert_eq!(r.json["auto_rebuild"], false);
    assert_eq!(r.json["subdomain"], "orders");
    let r = c.patch(&path, json!({"subdomain": null})).await;
    assert_eq!(r.json["subdomain"], Value::Null, "{}", r.text);
    assert_eq!(r.json["branch"], "release", "absent fields stay");

    // Stop: a queued build of a deployment that never ran is cancelled; the records stay.
    let queued = c.deploy_now(id).await.field("build_id");
    let r = c
        .post_empty(&format!("{path}/stop"), &c.deploy)
        .await
        .expect(StatusCode::OK);
    assert_eq!(r.json["status"], "STOPPED");
    assert!(
        r.json.get("webhook_secret").is_none(),
        "deploy tokens never see it"
    );
    let b = c.store.build(&queued).await.unwrap();
    assert_eq!(b.status, BuildStatus::Cancelled);

    // 404s, then DELETE.
    let r = c.get("/api/deployments/nope", &c.read).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.json["error"].is_string());
    let r = c.get("/api/workspaces/nope/deployments", &c.read).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    c.delete(&path, &c.admin)
        .await
        .expect(StatusCode::NO_CONTENT);
    let r = c.get(&path, &c.admin).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = c.get_public("/no/such/route").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.json["error"].is_string());
}
both!(deployments_crud);

/// Fills every `{param}` of an OpenAPI path with a real id, so an operation that wrongly
/// skipped its scope check would answer 2xx rather than a 404 that hides the mistake.
fn fill(path: &str, ws: &str, deployment: &str, build: &str) -> String {
    path.replace("{ws}", ws).replace(
        "{id}",
        if path.starts_with("/api/builds/") {
            build
        } else {
            deployment
        },
    )
}

/// An admin token signed with the server's key, recorded unrevoked, that expired two minutes
/// ago (beyond any leeway).
async fn expired_admin_token(c: &common::Ctx) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = pipedreamer_server::Claims {
        jti: "expired-token-id".into(),
        scope: Scope::Admin,
        deployment_id: None,
        iat: now - 3600,
        exp: now - 120,
    };
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(common::SECRET.as_bytes()),
    )
    .unwrap();
    c.store
        .insert_token(&pipedreamer_store::TokenRecord {
            id: claims.jti,
            scope: Scope::Admin,
            deployment_id: None,
            token_hash: pipedreamer_store::token_hash(&token),
            created_at: (now as i64 - 3600) * 1000,
            expires_at: Some((now as i64 - 120) * 1000),
            revoked: false,
        })
        .await
        .unwrap();
    token
}

async fn scopes_on_every_route(db: Db) {
    let c = ctx(db).await;
    let common::Orders { ws, id: dep, .. } = c.orders(json!({})).await;
    let build = c
        .deploy_now(&dep)
        .await
        .expect(StatusCode::ACCEPTED)
        .field("build_id");

    let revoked = c.tokens.mint(Scope::Admin, None, None).await.unwrap();
    c.tokens.revoke(&revoked.record.id).await.unwrap();
    let other_key = pipedreamer_server::Tokens::new(
        c.store.clone(),
        "another-server-secret-of-32-chars!!",
        std::time::Duration::from_secs(60),
    );
    let foreign = other_key
        .mint(Scope::Admin, None, None)
        .await
        .unwrap()
        .token;
    let expired = expired_admin_token(&c).await;

    let doc = c.get_public("/api/openapi.json").await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(
        doc.json["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let mut checked = 0;
    for (path, item) in doc.json["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let method: Method = method.to_uppercase().parse().unwrap();
            let scope = op["x-required-scope"].as_str();
            if path.ends_with("/webhook") || !path.starts_with("/api/") {
                assert!(scope.is_none(), "{method} {path} is public (HMAC or probe)");
                continue;
            }
            let scope = scope.unwrap_or_else(|| panic!("{method} {path} has no x-required-scope"));
            assert_eq!(op["security"][0]["bearer"][0], scope);
            let url = fill(path, &ws, &dep, &build);
            // A body that would pass validation, so only auth can refuse.
            let body = op.get("requestBody").map(|_| json!({"name": "x"}));
            let call = |token: Option<String>| {
                let (m, u, b) = (method.clone(), url.clone(), body.clone());
                let c = &c;
                async move { c.call(m, &u, token.as_deref(), b).await }
            };
            for (what, token) in [
                ("no token", None),
                ("garbage", Some("not-a-jwt".to_owned())),
                ("another server's token", Some(foreign.clone())),
                ("an expired token", Some(expired.clone())),
                ("a revoked token", Some(revoked.token.clone())),
            ] {
                let r = call(token).await;
                assert_eq!(
                    r.status,
                    StatusCode::UNAUTHORIZED,
                    "{method} {path} with {what}: {}",
                    r.text
                );
                assert!(
                    r.json["error"].is_string() && r.json["hint"].is_string(),
                    "{}",
                    r.text
                );
            }
            let under = match scope {
                "read" => &c.report,
                "deploy" => &c.read,
                "admin" => &c.deploy,
                // `report` stands apart: even an admin token may not report runs.
                "report" => &c.admin,
                other => panic!("unexpected scope {other}"),
            };
            let r = call(Some(under.clone())).await;
            assert_eq!(
                r.status,
                StatusCode::FORBIDDEN,
                "{method} {path} with an under-scoped token: {}",
                r.text
            );
            assert!(
                r.json["error"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("needs `{scope}`"))
            );
            // The report scope is refused everywhere but run ingest.
            if scope != "report" {
                let r = call(Some(c.report.clone())).await;
                assert_eq!(
                    r.status,
                    StatusCode::FORBIDDEN,
                    "{method} {path} with a report token"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 18, "only {checked} operations walked");
    // The scope itself passes.
    let r = c.get(&format!("/api/builds/{build}"), &c.read).await;
    assert_eq!(r.status, StatusCode::OK);
}
both!(scopes_on_every_route);

async fn secrets_never_come_back(db: Db) {
    let c = ctx(db).await;
    let common::Orders { ws, id, .. } = c.orders(json!({})).await;
    let id = id.as_str();
    let secrets = format!("/api/deployments/{id}/secrets");
    let value = "sk_live_a8f3c1-VERY-SECRET";
    let nested = "hunter2-nested-SECRET";
    let r = c
        .put(
            &secrets,
            &c.admin,
            json!({"stripe_key": value, "db": {"password": nested}}),
        )
        .await
        .expect(StatusCode::OK);
    let mut names: Vec<String> = serde_json::from_value(r.json["names"].clone()).unwrap();
    names.sort();
    assert_eq!(names, ["db", "stripe_key"]);
    let r = c.get(&secrets, &c.read).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["names"].as_array().unwrap().len(), 2);
    // Not an object → 422; a deploy token may not write secrets.
    let r = c.put(&secrets, &c.admin, json!(["x"])).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = c.put(&secrets, &c.deploy, json!({"a": "b"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // The stored value is intact for the pipeline.
    let stored = c.store.secrets(id).await.unwrap().unwrap();
    assert_eq!(stored["stripe_key"], value);
    // No GET anywhere shows a value, for any token.
    let build = c.deploy_now(id).await.field("build_id");
    for token in [&c.read, &c.deploy, &c.admin] {
        for path in [
            format!("/api/deployments/{id}"),
            format!("/api/deployments/{id}/secrets"),
            format!("/api/workspaces/{ws}/deployments"),
            format!("/api/deployments/{id}/builds"),
            format!("/api/builds/{build}"),
            format!("/api/builds/{build}/logs"),
            "/metrics".to_owned(),
            "/api/openapi.json".to_owned(),
        ] {
            let r = c.get(&path, token).await;
            assert!(r.status.is_success(), "{path}: {}", r.text);
            assert!(
                !r.text.contains(value) && !r.text.contains(nested),
                "{path} leaked a secret: {}",
                r.text
            );
        }
    }
}
both!(secrets_never_come_back);

async fn builds_history_and_cancel(db: Db) {
    let c = ctx(db).await;
    let common::Orders { id, .. } = c.orders(json!({"branch": "prod"})).await;
    let r = c.deploy_now(&id).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let first = r.field("build_id");
    assert_eq!(r.headers["location"], format!("/api/builds/{first}"));
    let b = c.get(&format!("/api/builds/{first}"), &c.read).await;
    assert_eq!(b.json["status"], "PENDING");
    assert_eq!(b.json["triggered_by"], "manual");
    assert_eq!(b.json["branch"], "prod");
    // A second manual deploy supersedes the pending one.
    let second = c.deploy_now(&id).await.field("build_id");
    let b = c.get(&format!("/api/builds/{first}"), &c.read).await;
    assert_eq!(b.json["status"], "CANCELLED");
    assert!(
        b.json["error_message"]
            .as_str()
            .unwrap()
            .starts_with("superseded by"),
        "{}",
        b.text
    );
    // History newest first, paged.
    let builds = format!("/api/deployments/{id}/builds");
    let r = c.get(&builds, &c.read).await;
    let ids: Vec<&str> = r.json["builds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [second.as_str(), first.as_str()]);
    let r = c.get(&format!("{builds}?limit=1"), &c.read).await;
    assert_eq!(r.json["builds"].as_array().unwrap().len(), 1);
    let r = c
        .get(&format!("{builds}?limit=1&before={second}"), &c.read)
        .await;
    assert_eq!(r.json["builds"][0]["id"], first.as_str());
    for bad in ["limit=0", "limit=101", "limit=x"] {
        c.get(&format!("{builds}?{bad}"), &c.read)
            .await
            .expect_for(StatusCode::BAD_REQUEST, bad);
    }
    // Cancel the pending one; cancelling again is a conflict.
    let cancel = format!("/api/builds/{second}/cancel");
    let r = c
        .post_empty(&cancel, &c.deploy)
        .await
        .expect(StatusCode::OK);
    assert_eq!(r.json["status"], "CANCELLED");
    c.post_empty(&cancel, &c.deploy)
        .await
        .expect(StatusCode::CONFLICT);
    let r = c.post_empty("/api/builds/nope/cancel", &c.deploy).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        c.store.build(&second).await.unwrap().status,
        BuildStatus::Cancelled
    );
}
both!(builds_history_and_cancel);

/// A minimal OpenMetrics reader: `# TYPE`/`# HELP`/`# UNIT` comments, samples `name{labels}
/// value`, and `# EOF` last. Returns (name with labels, value) pairs.
fn parse_openmetrics(text: &str) -> Vec<(String, f64)> {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.last(),
        Some(&"# EOF"),
        "exposition must end with # EOF"
    );
    let mut samples = Vec::new();
    for line in &lines[..lines.len() - 1] {
        if let Some(comment) = line.strip_prefix("# ") {
            let kind = comment.split_whitespace().next().unwrap();
            assert!(
                ["TYPE", "HELP", "UNIT"].contains(&kind),
                "bad comment {line}"
            );
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad sample {line}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "unterminated labels in {line}");
            for pair in series[name_end + 1..series.len() - 1].split(',') {
                let (k, v) = pair
                    .split_once('=')
                    .unwrap_or_else(|| panic!("bad label in {line}"));
                assert!(
                    k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{line}"
                );
                assert!(v.starts_with('"') && v.ends_with('"'), "{line}");
            }
        }
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        samples.push((series.to_owned(), value));
    }
    samples
}

async fn metrics_exposition(db: Db) {
    let c = ctx(db).await;
    let common::Orders { id, .. } = c.orders(json!({})).await;
    c.deploy_now(&id).await;
    c.deploy_now(&id).await;
    // One refused webhook.
    let req = common::webhook(&id, "push", "d-1", b"{}".to_vec(), Some("sha256=00".into()));
    assert_eq!(c.send(req).await.status, StatusCode::UNAUTHORIZED);
    let r = c.get_public("/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.content_type().starts_with("application/openmetrics-text"));
    let samples = parse_openmetrics(&r.text);
    let get = |series: &str| samples.iter().find(|(s, _)| s == series).map(|(_, v)| *v);
    for (series, value) in [
        (r#"pipedreamer_server_builds{status="pending"}"#, 1.0),
        (r#"pipedreamer_server_builds{status="cancelled"}"#, 1.0),
        (r#"pipedreamer_server_builds{status="building"}"#, 0.0),
        ("pipedreamer_server_build_queue_depth", 1.0),
        (
            r#"pipedreamer_server_webhook_deliveries_total{outcome="bad_signature"}"#,
            1.0,
        ),
        (
            r#"pipedreamer_server_webhook_deliveries_total{outcome="queued"}"#,
            0.0,
        ),
        (
            r#"pipedreamer_server_build_duration_seconds_count{status="success"}"#,
            0.0,
        ),
    ] {
        assert_eq!(get(series), Some(value), "{series}: {}", r.text);
    }
    assert!(
        r.text
            .contains("# TYPE pipedreamer_server_build_duration_seconds histogram")
    );
}
both!(metrics_exposition);

async fn probes(db: Db) {
    let c = ctx(db).await;
    let r = c.get_public("/healthz").await;
    assert_eq!(
        (r.status, r.json["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let r = c.get_public("/readyz").await;
    assert_eq!(
        (r.status, r.json["status"].as_str()),
        (StatusCode::OK, Some("ready"))
    );
    // With the database closed, readiness says so (and liveness does not care).
    c.store.close().await;
    let r = c.get_public("/readyz").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert!(r.json["error"].is_string());
    assert_eq!(c.get_public("/healthz").await.status, StatusCode::OK);
}
both!(probes);

async fn first_admin_token(db: Db) {
    let (store, _guard) = common::fresh_store(db).await;
    let tokens = pipedreamer_server::Tokens::new(
        store.clone(),
        common::SECRET,
        std::time::Duration::from_secs(60),
    );
    let minted = tokens
        .first_admin_token()
        .await
        .unwrap()
        .expect("first start mints one");
    assert_eq!(minted.record.scope, Scope::Admin);
    assert!(
        !format!("{minted:?}").contains(&minted.token),
        "Debug must not print the token"
    );
    assert!(
        tokens.first_admin_token().await.unwrap().is_none(),
        "only on first start"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = pipedreamer_server::auth::write_admin_token(dir.path(), &minted).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap().trim(), minted.token);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // The store keeps only the hash.
    let records = tokens.list().await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0].token_hash,
        pipedreamer_store::token_hash(&minted.token)
    );
    assert!(!format!("{records:?}").contains(&minted.token));
    let claims = tokens.verify(&minted.token).await.unwrap();
    assert_eq!(claims.jti, minted.record.id);
    tokens.revoke(&minted.record.id).await.unwrap();
    assert_eq!(
        tokens.verify(&minted.token).await.unwrap_err().status,
        StatusCode::UNAUTHORIZED
    );
    assert!(tokens.list().await.unwrap()[0].revoked);
    assert!(tokens.revoke("no-such-id").await.is_err());
    // report tokens must be bound to a deployment, others must not be.
    assert!(tokens.mint(Scope::Report, None, None).await.is_err());
    assert!(
        tokens
            .mint(Scope::Read, None, Some("d".into()))
            .await
            .is_err()
    );
}
both!(first_admin_token);

/// A deployment whose cluster cannot be reached cannot be undeployed: DELETE says so (502, the
/// records stay) and how to go on; `?force=true` deletes the records anyway.
async fn delete_when_the_target_is_unreachable(db: Db) {
    let c = ctx(db).await;
    let o = c
        .orders(
            json!({"target": {"type": "kubernetes", "namespace": "team-a",
            "registry": "registry.example.test", "context": "no-such-context"}}),
        )
        .await;
    // It went live once (as far as the records say): undeploying must ask its cluster.
    c.store
        .set_deployment_state(&o.id, pipedreamer_store::DeploymentStatus::Failed, None)
        .await
        .unwrap();
    let path = format!("/api/deployments/{}", o.id);
    let r = c.delete(&path, &c.admin).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.json);
    assert!(
        r.error().starts_with("cannot stop the deployment"),
        "{}",
        r.json
    );
    let hint = r.json["hint"].as_str().unwrap_or_default();
    assert!(hint.contains("?force=true"), "{}", r.json);
    c.get(&path, &c.admin).await.expect(StatusCode::OK);

    let r = c.delete(&format!("{path}?force=maybe"), &c.admin).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.json);
    c.delete(&format!("{path}?force=true"), &c.admin)
        .await
        .expect(StatusCode::NO_CONTENT);
    let r = c.get(&path, &c.admin).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
both!(delete_when_the_target_is_unreachable);

//! Request validation gaps a schemathesis run found, each a regression case on SQLite and
//! PostgreSQL: the server refuses what the OpenAPI document refuses (and the document says
//! what the server enforces), with `{"error", "hint"}` bodies naming the field.

mod common;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use common::{Ctx, Db, ctx};
use serde_json::{Value, json};

/// The OpenAPI document as served.
async fn openapi(c: &Ctx) -> Value {
    let r = c.get_public("/api/openapi.json").await;
    assert_eq!(r.status, StatusCode::OK);
    r.json
}

/// The schema of a component, `$ref`s not followed.
fn component<'a>(doc: &'a Value, name: &str) -> &'a Value {
    &doc["components"]["schemas"][name]
}

/// Every object in `v` (recursively) that has a property `prop`.
fn with_property<'a>(v: &'a Value, prop: &str, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(m) => {
            if m.get("properties").and_then(|p| p.get(prop)).is_some() {
                out.push(v);
            }
            m.values().for_each(|x| with_property(x, prop, out));
        }
        Value::Array(a) => a.iter().for_each(|x| with_property(x, prop, out)),
        _ => {}
    }
}

/// Serde's derived structs accept a JSON array in place of an object (`["x"]` filled `name`
/// and created workspace `x`; `[]` was an empty PATCH): every body must be an object, and the
/// other rejections keep their statuses.
async fn bodies_must_be_objects(db: Db) {
    let c = ctx(db).await;
    let r = c
        .post("/api/workspaces", &c.admin, json!(["x"]))
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error(), "body: must be a JSON object");
    assert!(r.json["hint"].as_str().unwrap().contains("an array"));
    assert!(c.store.workspace("x").await.is_err(), "no workspace `x`");

    c.workspace("team").await;
    let d = c.deployment("team", "orders", json!({})).await;
    let path = format!("/api/deployments/{}", d["id"].as_str().unwrap());
    for body in [
        json!([]),
        json!(["x"]),
        json!(null),
        json!(1),
        json!("x"),
        json!(true),
    ] {
        let r = c
            .patch(&path, body.clone())
            .await
            .expect_for(StatusCode::UNPROCESSABLE_ENTITY, &body);
        assert_eq!(r.error(), "body: must be a JSON object", "{body}");
    }
    c.put(&format!("{path}/secrets"), &c.admin, json!([["A", "b"]]))
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);

    // A wrong field inside an object stays a 422 naming it.
    let r = c
        .patch(&path, json!({"auto_rebuild": "yes"}))
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.error().contains("invalid type"), "{}", r.text);
    let r = c
        .patch(&path, json!({"colour": "red"}))
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.error().contains("unknown field `colour`"), "{}", r.text);

    // 415 without a JSON content type, 400 for malformed JSON, 413 above the limit.
    let raw = |content_type: Option<&str>, body: Vec<u8>| {
        let mut req = c.authorized(Method::PATCH, &path, &c.admin);
        if let Some(t) = content_type {
            req = req.header("content-type", t);
        }
        req.body(Body::from(body)).unwrap()
    };
    let r = c.send(raw(None, b"{}".to_vec())).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", r.text);
    let r = c.send(raw(Some("application/json"), b"[".to_vec())).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(
        r.error().starts_with("the body is not valid JSON"),
        "{}",
        r.text
    );
    let mut big = b"{\"description\": \"".to_vec();
    big.extend(std::iter::repeat_n(b'a', pipedreamer_server::api::MAX_BODY));
    big.extend(b"\"}");
    let r = c.send(raw(Some("application/json"), big)).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
    // An object is still accepted.
    c.patch(&path, json!({})).await.expect(StatusCode::OK);
}
both!(bodies_must_be_objects);

/// A malformed `Last-Event-ID` was ignored in text mode (200) while the document promises 400.
async fn last_event_id_is_checked_in_text_mode(db: Db) {
    let c = ctx(db).await;
    c.workspace("team").await;
    let d = c.deployment("team", "orders", json!({})).await;
    let build = c
        .deploy_now(d["id"].as_str().unwrap())
        .await
        .expect(StatusCode::ACCEPTED)
        .field("build_id");
    let logs = format!("/api/builds/{build}/logs");
    for (accept, id) in [
        (None, "abc"),
        (None, "-1"),
        (Some("text/plain"), "1.5"),
        (Some("text/event-stream"), "x"),
    ] {
        let mut req = c
            .authorized(Method::GET, &logs, &c.read)
            .header("last-event-id", id);
        if let Some(a) = accept {
            req = req.header("accept", a);
        }
        let r = c.send(req.body(Body::empty()).unwrap()).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{accept:?} {id}: {}",
            r.text
        );
        assert!(r.error().contains("Last-Event-ID"), "{}", r.text);
    }
    // Not UTF-8 at all: 400 too, not a 5xx.
    let req = c.authorized(Method::GET, &logs, &c.read).header(
        "last-event-id",
        axum::http::HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
    );
    let r = c.send(req.body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let req = c
        .authorized(Method::GET, &logs, &c.read)
        .header("last-event-id", "0");
    let r = c.send(req.body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    let doc = openapi(&c).await;
    let params = doc["paths"]["/api/builds/{id}/logs"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let header = params
        .iter()
        .find(|p| p["name"] == "Last-Event-ID")
        .unwrap();
    assert_eq!(header["schema"]["minimum"], 0, "{header}");
    // Optional, but never `null`: schemathesis sent `Last-Event-ID: null` for a nullable one.
    assert_eq!(header["required"], false, "{header}");
    assert_eq!(header["schema"]["type"], "integer", "{header}");
}
both!(last_event_id_is_checked_in_text_mode);

/// The server refused empty kubernetes target fields while the schema allowed them.
async fn kubernetes_target_fields_agree_with_the_schema(db: Db) {
    let c = ctx(db).await;
    c.workspace("team").await;
    for field in ["context", "registry", "cluster_registry"] {
        let mut target = json!({"type": "kubernetes", "registry": "r.test"});
        target[field] = json!("");
        let r = c
            .create_deployment(
                "team",
                json!({"name": "x", "repo": "https://x.test/r", "target": target}),
            )
            .await
            .expect(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.error(), format!("target.{field}: must not be empty"));
    }
    // 253 characters that are not ASCII: the schema counts characters, so does the server.
    let context = "é".repeat(253);
    c.deployment(
        "team",
        "wide",
        json!({"target": {"type": "kubernetes", "registry": "r.test", "context": context}}),
    )
    .await;

    let doc = openapi(&c).await;
    let mut targets = Vec::new();
    with_property(&doc, "cluster_registry", &mut targets);
    assert!(!targets.is_empty());
    for t in targets {
        for field in ["namespace", "context", "registry", "cluster_registry"] {
            let s = &t["properties"][field];
            assert_eq!(s["minLength"], 1, "{field}: {s}");
            assert!(s["maxLength"].is_u64(), "{field}: {s}");
            assert!(s["pattern"].is_string(), "{field}: {s}");
        }
    }
}
both!(kubernetes_target_fields_agree_with_the_schema);

/// A `local` target takes only `type`, as its schema says (`additionalProperties: false`);
/// schemathesis found the extra field accepted and dropped, on create and on PATCH.
async fn local_targets_take_no_other_field(db: Db) {
    let c = ctx(db).await;
    c.workspace("team").await;
    let target = json!({"type": "local", "namespace": "x"});
    let r = c
        .create_deployment(
            "team",
            json!({"name": "x", "repo": "https://x.test/r", "target": target}),
        )
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.error().contains("unknown field `namespace`"),
        "{}",
        r.text
    );
    let d = c.deployment("team", "k", json!({})).await;
    let r = c
        .patch(
            &format!("/api/deployments/{}", d["id"].as_str().unwrap()),
            json!({"target": {"type": "local", "x-extra": 42}}),
        )
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.error().contains("unknown field `x-extra`"), "{}", r.text);
}
both!(local_targets_take_no_other_field);

/// `"../x"` and `"a/b"` were stored and listed, but the pipeline skips such keys when it
/// writes `/app/secrets` and Kubernetes refuses them as Secret keys.
async fn secret_names_are_file_names_and_secret_keys(db: Db) {
    let c = ctx(db).await;
    c.workspace("team").await;
    let d = c.deployment("team", "orders", json!({})).await;
    let path = format!("/api/deployments/{}/secrets", d["id"].as_str().unwrap());
    let long = "a".repeat(254);
    for bad in [
        "../x",
        "a/b",
        ".env",
        "",
        " ",
        "a b",
        "é",
        "x\n",
        long.as_str(),
    ] {
        let r = c
            .put(&path, &c.admin, json!({"OK": "fine", bad: "hunter2-value"}))
            .await
            .expect_for(StatusCode::UNPROCESSABLE_ENTITY, format!("{bad:?}"));
        assert!(r.error().starts_with("body: secret name `"), "{}", r.text);
        assert!(!r.text.contains("hunter2"), "the value leaked: {}", r.text);
        assert!(r.json["hint"].is_string());
    }
    let r = c.get(&path, &c.read).await;
    assert_eq!(r.json["names"], json!([]), "nothing stored: {}", r.text);
    let r = c
        .put(
            &path,
            &c.admin,
            json!({
                "DATABASE_URL": "x", "api-key.json": {"a": 1}, "_x": 2, "-a.b": "y",
                "a".repeat(253): "z",
            }),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(r.json["names"].as_array().unwrap().len(), 5, "{}", r.text);

    let doc = openapi(&c).await;
    let body = &doc["paths"]["/api/deployments/{id}/secrets"]["put"]["requestBody"]["content"]["application/json"]
        ["schema"];
    let body = match body["$ref"].as_str() {
        Some(r) => component(&doc, r.rsplit('/').next().unwrap()),
        None => body,
    };
    let names = &body["propertyNames"];
    assert_eq!(names["pattern"], "^[A-Za-z0-9_-][-._A-Za-z0-9]*$", "{body}");
    assert_eq!(names["maxLength"], 253, "{body}");
}
both!(secret_names_are_file_names_and_secret_keys);

/// The schema said `maxLength: 1024` while the server took 4096 bytes: both now say 4096
/// characters.
async fn description_limit_agrees_with_the_schema(db: Db) {
    let c = ctx(db).await;
    c.workspace("team").await;
    let d = c
        .deployment("team", "orders", json!({"description": "é".repeat(4096)}))
        .await;
    let path = format!("/api/deployments/{}", d["id"].as_str().unwrap());
    let r = c
        .patch(&path, json!({"description": "a".repeat(4097)}))
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error(), "description: must be at most 4096 characters");
    c.create_deployment(
        "team",
        json!({"name": "x", "repo": "https://x.test/r", "description": "é".repeat(4097),
            "target": {"type": "kubernetes", "registry": "r.test"}}),
    )
    .await
    .expect(StatusCode::UNPROCESSABLE_ENTITY);

    let doc = openapi(&c).await;
    for body in ["NewDeploymentBody", "PatchDeploymentBody"] {
        let s = &component(&doc, body)["properties"]["description"];
        assert_eq!(s["maxLength"], 4096, "{body}: {s}");
    }
}
both!(description_limit_agrees_with_the_schema);

/// `repo: "http://000?e"` was accepted and its build failed later ("plain http:// is only used
/// for loopback hosts"): the git crate's own rules apply at creation and on PATCH.
async fn repo_urls_follow_the_git_crates_rules(db: Db) {
    let c = ctx(db).await;
    c.workspace("team").await;
    let create = |repo: &str| json!({"name": "x", "repo": repo, "target": {"type": "kubernetes", "registry": "r.test"}});
    for (repo, reason) in [
        (
            "http://000?e",
            "plain `http://` is only used for loopback hosts",
        ),
        ("http://git.example.test/r.git", "plain `http://`"),
        (
            "file://host/srv/r",
            "a `file://` URL needs an absolute path",
        ),
    ] {
        let r = c
            .create_deployment("team", create(repo))
            .await
            .expect_for(StatusCode::UNPROCESSABLE_ENTITY, repo);
        assert!(
            r.error().starts_with(&format!("repo: {reason}")),
            "{}",
            r.text
        );
        assert!(r.json["hint"].is_string(), "{}", r.text);
    }
    let d = c
        .deployment(
            "team",
            "orders",
            json!({"repo": "http://127.0.0.1:8080/r.git"}),
        )
        .await;
    let path = format!("/api/deployments/{}", d["id"].as_str().unwrap());
    let r = c
        .patch(&path, json!({"repo": "http://000?e"}))
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.error().starts_with("repo: plain `http://`"), "{}", r.text);
    assert_eq!(r.json["hint"], "use the `https://` URL of the repository");
    for ok in [
        "http://localhost/r",
        "http://[::1]:9/r",
        "file:///srv/r",
        "/srv/r",
    ] {
        c.patch(&path, json!({"repo": ok}))
            .await
            .expect_for(StatusCode::OK, ok);
    }
}
both!(repo_urls_follow_the_git_crates_rules);

/// A workspace named like another's id could not be reached by name (the id wins).
async fn workspace_names_are_not_uuids(db: Db) {
    let c = ctx(db).await;
    let id = c.workspace("team").await;
    let simple = id.replace('-', "");
    for name in [
        id.as_str(),
        simple.as_str(),
        "00000000-0000-0000-0000-000000000000",
    ] {
        let r = c
            .post("/api/workspaces", &c.admin, json!({"name": name}))
            .await
            .expect_for(StatusCode::UNPROCESSABLE_ENTITY, name);
        assert_eq!(r.error(), "name: must not be a UUID");
    }
    // Hex that is not a UUID's shape is a fine name.
    c.workspace("deadbeef").await;
}
both!(workspace_names_are_not_uuids);

/// Bad input that used to reach the database: PostgreSQL refuses NUL in `TEXT`, so a `%00` in
/// an id, a NUL in a description or in a pushed commit message was a 500 there. Also numbers
/// out of range and headers that are not UTF-8: all 4xx with a JSON error.
async fn bad_bytes_never_reach_the_database(db: Db) {
    let c = ctx(db).await;
    c.workspace("team").await;
    let d = c.deployment("team", "orders", json!({})).await;
    let id = d["id"].as_str().unwrap();
    for path in [
        "/api/deployments/%00".to_owned(),
        "/api/deployments/a%00b/builds".to_owned(),
        "/api/builds/%00".to_owned(),
        "/api/builds/%00/logs".to_owned(),
        "/api/workspaces/%00/deployments".to_owned(),
        "/api/deployments/%FF%FE".to_owned(),
        format!("/api/deployments/{id}%00"),
    ] {
        let r = c
            .get(&path, &c.admin)
            .await
            .expect_for(StatusCode::NOT_FOUND, &path);
        assert!(r.json["error"].is_string(), "{path}: {}", r.text);
    }
    for query in [
        "before=%00",
        "before=%C3",
        "limit=99999999999",
        "limit=-1",
        "limit=0",
        "limit=1e3",
    ] {
        let path = format!("/api/deployments/{id}/builds?{query}");
        let r = c
            .get(&path, &c.read)
            .await
            .expect_for(StatusCode::BAD_REQUEST, query);
        assert!(r.json["error"].is_string(), "{query}: {}", r.text);
    }
    let r = c
        .patch(
            &format!("/api/deployments/{id}"),
            json!({"description": "a\u{0}b"}),
        )
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error(), "description: must not contain NUL characters");
    let doc = openapi(&c).await;
    assert_eq!(
        component(&doc, "PatchDeploymentBody")["properties"]["description"]["pattern"],
        "^[^\\x00]*$"
    );

    // A pushed commit message with a NUL is stored (NUL replaced), not a 500.
    let body = common::push_payload("main", &common::sha(1), "fix\u{0}bug");
    let secret = d["webhook_secret"].as_str().unwrap();
    let r = c
        .deliver(id, secret, "push", "delivery-nul", &body)
        .await
        .expect(StatusCode::ACCEPTED);
    let build = c
        .store
        .build(r.json["build_id"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(build.commit_message.as_deref(), Some("fix\u{fffd}bug"));

    // Headers that are not UTF-8.
    let req = c
        .request(Method::GET, &format!("/api/deployments/{id}"))
        .header(
            "authorization",
            axum::http::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap(),
        );
    let r = c.send(req.body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    let req = c
        .authorized(Method::GET, &format!("/api/deployments/{id}"), &c.read)
        .header(
            "accept",
            axum::http::HeaderValue::from_bytes(b"\xff").unwrap(),
        );
    let r = c.send(req.body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}
both!(bad_bytes_never_reach_the_database);

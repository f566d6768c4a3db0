//! The dashboard through the router, against SQLite and PostgreSQL: sessions (sign-in, cookie
//! flags, expiry bound to the token, revocation), CSRF and origin checks on form posts, the
//! `read` scope, the deployment form's inline errors, the escaped live log, the security
//! headers and the content-hashed assets. The real-browser test is in the CLI's
//! `tests/it/dashboard.rs`.

mod common;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use common::{Ctx, Db, Reply};
use serde_json::json;

/// Where the test's requests say they come from: the server itself (`Host`) and its origin.
const HOST: &str = "deploy.example.test";
const ORIGIN: &str = "https://deploy.example.test";

/// `GET path` as a browser with `cookie`.
async fn page(c: &Ctx, path: &str, cookie: Option<&str>) -> Reply {
    let mut req = c
        .request(Method::GET, path)
        .header("host", HOST)
        .header("accept", "text/html");
    if let Some(cookie) = cookie {
        req = req.header("cookie", cookie);
    }
    c.send(req.body(Body::empty()).unwrap()).await
}

/// A form post with `cookie`, from `origin` (`None`: no Origin or Referer at all).
async fn form(
    c: &Ctx,
    path: &str,
    cookie: Option<&str>,
    origin: Option<&str>,
    fields: &[(&str, &str)],
) -> Reply {
    let body: String = fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut req = c
        .request(Method::POST, path)
        .header("host", HOST)
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(cookie) = cookie {
        req = req.header("cookie", cookie);
    }
    if let Some(origin) = origin {
        req = req.header("origin", origin);
    }
    c.send(req.body(Body::from(body)).unwrap()).await
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Signs in with `token`; returns the `Cookie` header value and the `Set-Cookie` header.
async fn sign_in(c: &Ctx, token: &str) -> (String, String) {
    let r = form(c, "/signin", None, Some(ORIGIN), &[("token", token)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let set = r.headers["set-cookie"].to_str().unwrap().to_owned();
    let pair = set.split(';').next().unwrap().to_owned();
    (pair, set)
}

/// The CSRF token of the forms on a page.
fn csrf(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + "name=\"csrf\" value=\"".len();
    html[at..].split('"').next().unwrap().to_owned()
}

async fn sessions_and_cookie_flags(db: Db) {
    let c = common::ctx(db).await;
    // Without a session: to the sign-in page, which carries the strict CSP.
    let r = page(&c, "/", None).await.expect(StatusCode::SEE_OTHER);
    assert_eq!(r.headers["location"], "/signin");
    let r = page(&c, "/signin", None).await.expect(StatusCode::OK);
    assert!(r.content_type().starts_with("text/html"));
    let csp = r.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(r.headers["x-frame-options"], "DENY");
    // A bad token is refused on the page, with why.
    let r = form(&c, "/signin", None, Some(ORIGIN), &[("token", "nope")])
        .await
        .expect(StatusCode::UNAUTHORIZED);
    assert!(
        r.text.contains("not a valid Pipedreamer token"),
        "{}",
        r.text
    );
    assert!(!r.headers.contains_key("set-cookie"));
    // A report token cannot sign in.
    let r = form(&c, "/signin", None, Some(ORIGIN), &[("token", &c.report)])
        .await
        .expect(StatusCode::FORBIDDEN);
    assert!(!r.headers.contains_key("set-cookie"));

    let (cookie, set) = sign_in(&c, &c.admin).await;
    for flag in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(set.contains(flag), "{flag} missing from {set}");
    }
    // Never longer than the token (these tokens live 1 h, less than the 12 h cap).
    let max_age: u64 = set
        .split("; ")
        .find_map(|a| a.strip_prefix("Max-Age="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(max_age <= 3600 && max_age > 3500, "{set}");
    // The cookie is not the token.
    assert!(!cookie.contains(&c.admin));
    assert!(!cookie.contains(c.admin.split('.').nth(1).unwrap()));

    c.workspace("team-a").await;
    let r = page(&c, "/", Some(&cookie)).await.expect(StatusCode::OK);
    assert!(r.text.contains("team-a"), "{}", r.text);
    // A tampered cookie (another scope, same MAC) is no session.
    let forged = cookie.replacen(".admin.", ".read.", 1);
    assert_ne!(forged, cookie);
    page(&c, "/", Some(&forged))
        .await
        .expect(StatusCode::UNAUTHORIZED);

    // /api stays bearer-only: the cookie opens nothing there.
    let r = page(&c, "/api/workspaces/team-a/deployments", Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);

    // Sign-out clears the cookie.
    let token = csrf(&page(&c, "/", Some(&cookie)).await.text);
    let r = form(
        &c,
        "/signout",
        Some(&cookie),
        Some(ORIGIN),
        &[("csrf", &token)],
    )
    .await
    .expect(StatusCode::SEE_OTHER);
    assert!(
        r.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    // Signing out ends the session on the server too: a copy of the cookie is refused.
    let r = page(&c, "/", Some(&cookie))
        .await
        .expect(StatusCode::UNAUTHORIZED);
    assert!(r.text.contains("signed out"), "{}", r.text);
    // Another session of the same token goes on.
    let (other, _) = sign_in(&c, &c.admin).await;
    page(&c, "/", Some(&other)).await.expect(StatusCode::OK);

    // Revoking the token ends its sessions at once, with a page that says so.
    let (cookie, _) = sign_in(&c, &c.deploy).await;
    page(&c, "/", Some(&cookie)).await.expect(StatusCode::OK);
    let jti = c.tokens.verify(&c.deploy).await.unwrap().jti;
    c.tokens.revoke(&jti).await.unwrap();
    let r = page(&c, "/", Some(&cookie))
        .await
        .expect(StatusCode::UNAUTHORIZED);
    assert!(r.text.contains("revoked"), "{}", r.text);
    assert!(
        r.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
}
both!(sessions_and_cookie_flags);

async fn cross_site_posts_are_refused(db: Db) {
    let c = common::ctx(db).await;
    let o = c.orders(json!({})).await;
    let (cookie, _) = sign_in(&c, &c.admin).await;
    let path = format!("/deployments/{}", o.id);
    let token = csrf(&page(&c, &path, Some(&cookie)).await.text);
    let deploy = format!("{path}/deploy");
    // Another site's form (its Origin), a post without any origin, a wrong or missing token:
    // all refused, nothing queued.
    for (origin, t) in [
        (Some("https://evil.example"), token.as_str()),
        (Some("null"), token.as_str()),
        (None, token.as_str()),
        (Some(ORIGIN), "0000"),
        (Some(ORIGIN), ""),
    ] {
        let r = form(&c, &deploy, Some(&cookie), origin, &[("csrf", t)]).await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{origin:?} {t}: {}",
            r.text
        );
    }
    // Another session's token does not fit this session.
    let (other, _) = sign_in(&c, &c.admin).await;
    let other_token = csrf(&page(&c, &path, Some(&other)).await.text);
    assert_ne!(other_token, token);
    form(
        &c,
        &deploy,
        Some(&cookie),
        Some(ORIGIN),
        &[("csrf", &other_token)],
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    let builds = c
        .get(&format!("/api/deployments/{}/builds", o.id), &c.read)
        .await;
    assert_eq!(builds.json["builds"].as_array().unwrap().len(), 0);
    // The page's own form is accepted: to the new build's page.
    let r = form(
        &c,
        &deploy,
        Some(&cookie),
        Some(ORIGIN),
        &[("csrf", &token)],
    )
    .await
    .expect(StatusCode::SEE_OTHER);
    let location = r.headers["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/builds/"), "{location}");
    let builds = c
        .get(&format!("/api/deployments/{}/builds", o.id), &c.read)
        .await;
    assert_eq!(builds.json["builds"].as_array().unwrap().len(), 1);
    // Cancel while it has not ended: offered on its page, refused cross-site, then done.
    let build_page = page(&c, &location, Some(&cookie))
        .await
        .expect(StatusCode::OK);
    assert!(
        build_page.text.contains("id=\"cancel\""),
        "{}",
        build_page.text
    );
    let cancel = format!("{location}/cancel");
    form(
        &c,
        &cancel,
        Some(&cookie),
        Some("https://evil.example"),
        &[("csrf", &token)],
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    form(
        &c,
        &cancel,
        Some(&cookie),
        Some(ORIGIN),
        &[("csrf", &token)],
    )
    .await
    .expect(StatusCode::SEE_OTHER);
    let build = c.get(&format!("/api{location}"), &c.read).await;
    assert_eq!(build.json["status"], "CANCELLED", "{}", build.text);
    let build_page = page(&c, &location, Some(&cookie))
        .await
        .expect(StatusCode::OK);
    assert!(!build_page.text.contains("id=\"cancel\""));
    // Signing in from another site is refused too (login CSRF).
    form(
        &c,
        "/signin",
        None,
        Some("https://evil.example"),
        &[("token", &c.admin)],
    )
    .await
    .expect(StatusCode::FORBIDDEN);
}
both!(cross_site_posts_are_refused);

async fn read_scope_sees_and_changes_nothing(db: Db) {
    let c = common::ctx(db).await;
    let o = c.orders(json!({})).await;
    let path = format!("/deployments/{}", o.id);
    let (admin, _) = sign_in(&c, &c.admin).await;
    let admin_page = page(&c, &path, Some(&admin)).await.expect(StatusCode::OK);
    assert!(admin_page.text.contains(&o.secret), "admin sees the secret");
    assert!(admin_page.text.contains("id=\"deploy\""));

    let (read, _) = sign_in(&c, &c.read).await;
    let r = page(&c, &path, Some(&read)).await.expect(StatusCode::OK);
    assert!(!r.text.contains(&o.secret), "read must not see the secret");
    for button in [
        "id=\"deploy\"",
        "id=\"stop\"",
        "id=\"delete\"",
        "/edit\"",
        "/auto-rebuild\"",
    ] {
        assert!(!r.text.contains(button), "{button} shown to read");
    }
    let ws_page = page(&c, "/workspaces/team-a", Some(&read))
        .await
        .expect(StatusCode::OK);
    assert!(!ws_page.text.contains(&o.secret));
    assert!(!ws_page.text.contains("New deployment"));
    // The server refuses what the buttons would do, with a valid CSRF token.
    let token = csrf(&r.text);
    for action in ["deploy", "stop", "delete", "edit", "auto-rebuild"] {
        let r = form(
            &c,
            &format!("{path}/{action}"),
            Some(&read),
            Some(ORIGIN),
            &[
                ("csrf", &token),
                ("repo", "https://github.com/x/y.git"),
                ("auto_rebuild", "off"),
            ],
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{action}: {}", r.text);
    }
    page(&c, &format!("{path}/edit"), Some(&read))
        .await
        .expect(StatusCode::FORBIDDEN);
    page(&c, "/workspaces/team-a/new", Some(&read))
        .await
        .expect(StatusCode::FORBIDDEN);
    // Still there, never built.
    c.get(&format!("/api/deployments/{}", o.id), &c.read)
        .await
        .expect(StatusCode::OK);
    let builds = c
        .get(&format!("/api/deployments/{}/builds", o.id), &c.read)
        .await;
    assert_eq!(builds.json["builds"].as_array().unwrap().len(), 0);
}
both!(read_scope_sees_and_changes_nothing);

async fn the_form_shows_the_apis_errors_inline(db: Db) {
    let c = common::ctx(db).await;
    c.workspace("team-a").await;
    let (cookie, _) = sign_in(&c, &c.admin).await;
    let new = page(&c, "/workspaces/team-a/new", Some(&cookie))
        .await
        .expect(StatusCode::OK);
    let token = csrf(&new.text);
    let mut fields = vec![
        ("csrf", token.as_str()),
        ("name", "Bad_Name"),
        ("repo", "https://github.com/acme/orders.git"),
        ("branch", "main"),
        ("path", "."),
        ("target", "kubernetes"),
        ("namespace", "team-a"),
        ("registry", "registry.example.test"),
        ("auto_rebuild", "on"),
    ];
    let r = form(
        &c,
        "/workspaces/team-a/new",
        Some(&cookie),
        Some(ORIGIN),
        &fields,
    )
    .await
    .expect(StatusCode::UNPROCESSABLE_ENTITY);
    // The API's own message, next to the field, which keeps what was typed.
    assert!(
        r.text.contains(
            "id=\"f-name-error\" class=\"field-error\" role=\"alert\">name: must be a DNS-1123 label"
        ),
        "{}",
        r.text
    );
    assert!(r.text.contains("value=\"Bad_Name\""));
    assert!(r.text.contains("aria-invalid=\"true\""));
    // A bad repository is reported at the repository field.
    fields[1] = ("name", "orders");
    fields[2] = ("repo", "https://user:pw@github.com/a/b");
    let r = form(
        &c,
        "/workspaces/team-a/new",
        Some(&cookie),
        Some(ORIGIN),
        &fields,
    )
    .await
    .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text
            .contains("id=\"f-repo-error\" class=\"field-error\" role=\"alert\">repo: must not contain credentials"),
        "{}",
        r.text
    );
    fields[2] = ("repo", "https://github.com/acme/orders.git");
    let r = form(
        &c,
        "/workspaces/team-a/new",
        Some(&cookie),
        Some(ORIGIN),
        &fields,
    )
    .await
    .expect(StatusCode::SEE_OTHER);
    let location = r.headers["location"].to_str().unwrap().to_owned();
    let id = location.strip_prefix("/deployments/").unwrap();
    let d = c
        .get(&format!("/api/deployments/{id}"), &c.admin)
        .await
        .expect(StatusCode::OK);
    assert_eq!(d.json["name"], "orders");
    assert_eq!(d.json["target"]["namespace"], "team-a");
    assert_eq!(d.json["auto_rebuild"], true);
    // The same name again: the store's conflict, shown above the form.
    let r = form(
        &c,
        "/workspaces/team-a/new",
        Some(&cookie),
        Some(ORIGIN),
        &fields,
    )
    .await
    .expect(StatusCode::CONFLICT);
    assert!(
        r.text.contains("class=\"error\" role=\"alert\""),
        "{}",
        r.text
    );
    // Edit: a bad branch inline, then a good change.
    let edit = format!("/deployments/{id}/edit");
    let mut changes = fields.clone();
    changes[3] = ("branch", "a..b");
    let r = form(&c, &edit, Some(&cookie), Some(ORIGIN), &changes)
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text.contains("id=\"f-branch-error\""), "{}", r.text);
    changes[3] = ("branch", "release");
    form(&c, &edit, Some(&cookie), Some(ORIGIN), &changes)
        .await
        .expect(StatusCode::SEE_OTHER);
    let d = c.get(&format!("/api/deployments/{id}"), &c.admin).await;
    assert_eq!(d.json["branch"], "release");
    // The card's auto-rebuild toggle (admins only; read sees no such form).
    let detail = page(&c, &format!("/deployments/{id}"), Some(&cookie))
        .await
        .expect(StatusCode::OK);
    assert!(
        detail
            .text
            .contains(&format!("action=\"/deployments/{id}/auto-rebuild\""))
    );
    form(
        &c,
        &format!("/deployments/{id}/auto-rebuild"),
        Some(&cookie),
        Some(ORIGIN),
        &[("csrf", &token), ("auto_rebuild", "off")],
    )
    .await
    .expect(StatusCode::SEE_OTHER);
    let d = c.get(&format!("/api/deployments/{id}"), &c.admin).await;
    assert_eq!(d.json["auto_rebuild"], false);
    assert_eq!(
        d.json["branch"], "release",
        "the toggle changes nothing else"
    );
    // Delete through its confirmation page, which names it.
    let confirm = page(&c, &format!("/deployments/{id}/delete"), Some(&cookie))
        .await
        .expect(StatusCode::OK);
    assert!(confirm.text.contains("Delete orders"));
    form(
        &c,
        &format!("/deployments/{id}/delete"),
        Some(&cookie),
        Some(ORIGIN),
        &[("csrf", &token)],
    )
    .await
    .expect(StatusCode::SEE_OTHER);
    c.get(&format!("/api/deployments/{id}"), &c.admin)
        .await
        .expect(StatusCode::NOT_FOUND);
}
both!(the_form_shows_the_apis_errors_inline);

async fn the_live_log_is_escaped_and_resumes(db: Db) {
    let c = common::ctx(db).await;
    let o = c.orders(json!({})).await;
    let build = c.deploy_now(&o.id).await.field("build_id");
    let claimed = common::claim(&c.store, "w1").await;
    assert_eq!(claimed.id, build);
    c.store
        .append_log(&build, "<img src=x onerror=alert(1)> first")
        .await
        .unwrap();
    c.store.append_log(&build, "second & last").await.unwrap();
    c.store
        .finish_build(
            &build,
            "w1",
            pipedreamer_store::BuildOutcome {
                status: pipedreamer_store::BuildStatus::Success,
                image: Some("registry.example.test/orders:1".into()),
                image_digest: Some(format!("sha256:{}", "ab".repeat(32))),
                error_message: None,
            },
        )
        .await
        .unwrap();
    let (cookie, _) = sign_in(&c, &c.read).await;
    let path = format!("/builds/{build}/log");
    let r = page(&c, &path, Some(&cookie)).await.expect(StatusCode::OK);
    assert!(r.content_type().starts_with("text/event-stream"));
    assert!(
        r.text
            .contains("id: 1\nevent: log\ndata: &lt;img src=x onerror=alert(1)&gt; first\n"),
        "{}",
        r.text
    );
    assert!(!r.text.contains("<img"), "{}", r.text);
    assert!(r.text.contains("data: second &amp; last"));
    // The end: the result fragment with the status and the digest.
    let end = r.text.split("event: end\n").nth(1).expect("an end event");
    assert!(end.contains("data-status=\"SUCCESS\""), "{end}");
    assert!(end.contains(&"ab".repeat(32)));
    // Resuming after chunk 1 (the browser's Last-Event-ID, or `?after=` for a new
    // EventSource) sends chunk 2 only.
    for (header, query) in [(Some("1"), ""), (None, "?after=1")] {
        let mut req = c
            .request(Method::GET, &format!("{path}{query}"))
            .header("cookie", &cookie);
        if let Some(h) = header {
            req = req.header("last-event-id", h);
        }
        let r = c.send(req.body(Body::empty()).unwrap()).await;
        assert!(!r.text.contains("first"), "{}", r.text);
        assert!(r.text.contains("id: 2\n"), "{}", r.text);
    }
    // The build page itself: the stream is connected, the escaped result is there.
    let r = page(&c, &format!("/builds/{build}"), Some(&cookie))
        .await
        .expect(StatusCode::OK);
    assert!(
        r.text
            .contains(&format!("sse-connect=\"/builds/{build}/log\""))
    );
    assert!(!r.text.contains("id=\"cancel\""), "no Cancel for read");
    // Without a session the stream is refused.
    page(&c, &path, None).await.expect(StatusCode::SEE_OTHER);
}
both!(the_live_log_is_escaped_and_resumes);

async fn assets_are_hashed_and_immutable(db: Db) {
    let c = common::ctx(db).await;
    let r = page(&c, "/signin", None).await.expect(StatusCode::OK);
    let mut seen = 0;
    for name in [
        "htmx-2.0.11.min.js",
        "htmx-ext-sse-2.2.4.min.js",
        "dashboard.js",
        "dashboard.css",
    ] {
        let end = r.text.find(&format!("/{name}\"")).expect(name);
        let start = r.text[..end].rfind("/assets/").unwrap();
        let url = &r.text[start..end + name.len() + 1];
        let hash = url.split('/').nth(2).unwrap();
        assert_eq!(hash.len(), 16, "{url}");
        let a = page(&c, url, None).await.expect(StatusCode::OK);
        assert_eq!(
            a.headers["cache-control"],
            "public, max-age=31536000, immutable"
        );
        let file = std::fs::read(format!("{}/assets/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        assert_eq!(a.text.as_bytes(), &file[..], "{name}");
        // The hash is the content's: the first 8 bytes of its SHA-256.
        use sha2::Digest;
        assert_eq!(hash, hex::encode(&sha2::Sha256::digest(&file)[..8]));
        // An old hash is not served (it would be cached forever under new content).
        page(&c, &format!("/assets/0000000000000000/{name}"), None)
            .await
            .expect(StatusCode::NOT_FOUND);
        seen += 1;
    }
    assert_eq!(seen, 4);
    // Nothing is loaded from elsewhere.
    assert!(
        !r.text.contains("http://") && !r.text.contains("https://"),
        "{}",
        r.text
    );
    // Unknown pages: an HTML 404 for a browser, the API's JSON otherwise.
    let r = page(&c, "/no/such/page", None)
        .await
        .expect(StatusCode::NOT_FOUND);
    assert!(r.text.contains("Page not found"));
    let r = c
        .get_public("/no/such/page")
        .await
        .expect(StatusCode::NOT_FOUND);
    assert_eq!(r.error(), "no such route");
}
both!(assets_are_hashed_and_immutable);

async fn build_history_is_paged(db: Db) {
    let c = common::ctx(db).await;
    let o = c.orders(json!({})).await;
    // 25 manual deploys: each supersedes the pending one, so 25 builds in the history.
    let mut ids = Vec::new();
    for _ in 0..25 {
        ids.push(c.deploy_now(&o.id).await.field("build_id"));
    }
    let (cookie, _) = sign_in(&c, &c.read).await;
    let path = format!("/deployments/{}", o.id);
    let first = page(&c, &path, Some(&cookie)).await.expect(StatusCode::OK);
    let rows = |html: &str| html.matches("<tr>").count() - 1; // minus the header row
    assert_eq!(rows(&first.text), 20);
    // Newest first: the last deploy's build is on the first page, the first one is not.
    assert!(first.text.contains(&format!("/builds/{}\"", ids[24])));
    assert!(!first.text.contains(&format!("/builds/{}\"", ids[0])));
    let older = format!("{path}?before={}", ids[5]);
    assert!(
        first.text.contains(&format!("href=\"{older}\"")),
        "{}",
        first.text
    );
    let second = page(&c, &older, Some(&cookie)).await.expect(StatusCode::OK);
    assert_eq!(rows(&second.text), 5);
    assert!(second.text.contains(&format!("/builds/{}\"", ids[0])));
    assert!(!second.text.contains("Older builds"));
    assert!(second.text.contains(&format!("href=\"{path}\">Newest")));
    // The refresh keeps the page it refreshes.
    assert!(
        second
            .text
            .contains(&format!("hx-get=\"{path}/live?before={}\"", ids[5]))
    );
    let live = page(&c, &format!("{path}/live?before={}", ids[5]), Some(&cookie))
        .await
        .expect(StatusCode::OK);
    assert_eq!(rows(&live.text), 5);
}
both!(build_history_is_paged);

/// A run record as the engine reports it (the `GET /api/runs/:id` shape), `n` seconds after
/// a fixed start, with three nodes: `parse` (done), `fetch` (3 attempts), `store` (`status`).
fn run_json(id: &str, n: i64, status: &str, extra: serde_json::Value) -> serde_json::Value {
    let started = 1_800_000_000_000 + n * 1000;
    let failed = status == "failed";
    let mut run = json!({
        "id": id,
        "workflow": "orders",
        "version": "1.2.0",
        "trigger": if n % 2 == 0 { "http" } else { "cron:nightly" },
        "status": status,
        "started_at": started,
        "ended_at": started + 400,
        "nodes": {
            "parse": {"status": "succeeded", "attempts": 1, "started_ms": 0.5, "duration_ms": 99.5},
            "fetch": {"status": "succeeded", "attempts": 3, "started_ms": 100.0, "duration_ms": 200.0},
            "store": {"status": if failed { "failed" } else { "succeeded" }, "attempts": 1, "started_ms": 300.0, "duration_ms": 100.0},
            "notify": {"status": if failed { "skipped" } else { "succeeded" }, "attempts": if failed { 0 } else { 1 }, "started_ms": 0.0, "duration_ms": 0.0},
        },
        "logs": [
            {"at_ms": 1.25, "node": "parse", "level": "info", "message": "<script>alert('log')</script> parsed"},
            {"at_ms": 150.0, "node": "fetch", "level": "warn", "message": "attempt 2 of 3 after: Error: 503"},
        ],
        "progress": [
            {"at_ms": 120.0, "node": "fetch", "percent": 10.0, "message": "first page"},
            {"at_ms": 250.0, "node": "fetch", "percent": 75.0, "message": "page 3 of 4"},
        ],
        "outputs": {"summary": {"rows": 42, "note": "<img src=x onerror=alert(1)>"}},
        "error": if failed {
            json!({"node": "store", "message": "Error: duplicate key <b>order</b>", "kind": "thrown"})
        } else {
            serde_json::Value::Null
        },
    });
    for (k, v) in extra.as_object().unwrap() {
        run[k] = v.clone();
    }
    run
}

/// `html` with askama's numeric escapes spelled as named ones (`&#60;` → `&lt;`), so the
/// assertions read like the escaped text.
fn named_escapes(html: &str) -> String {
    html.replace("&#60;", "&lt;")
        .replace("&#62;", "&gt;")
        .replace("&#34;", "&quot;")
        .replace("&#38;", "&amp;")
}

/// The ids of the runs listed on a Runs page, in order.
fn listed_runs(html: &str) -> Vec<String> {
    html.split("<tr data-run=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_owned())
        .collect()
}

async fn runs_tab_and_run_page(db: Db) {
    let c = common::ctx(db).await;
    let o = c.orders(json!({})).await;
    let ws = c.workspace("team-b").await;
    let other = c.deployment(&ws, "billing", json!({})).await;
    let other_id = other["id"].as_str().unwrap();
    // 30 runs of orders, every third failed; run 29 replays run 28 and has its input.
    let mut records = Vec::new();
    for n in 0..30 {
        let status = if n % 3 == 0 { "failed" } else { "succeeded" };
        let extra = if n == 29 {
            json!({"replay_of": "run-28", "input": {"order": "<o1>"}, "output": {"ok": true}, "dropped": {"logs": 7}})
        } else {
            json!({})
        };
        records.push(
            serde_json::from_value(run_json(&format!("run-{n:02}"), n, status, extra)).unwrap(),
        );
    }
    c.store.insert_runs(Some(&o.id), &records).await.unwrap();
    let billing =
        serde_json::from_value(run_json("billing-1", 31, "succeeded", json!({}))).unwrap();
    c.store
        .insert_runs(Some(other_id), &[billing])
        .await
        .unwrap();

    let (read, _) = sign_in(&c, &c.read).await;
    // The deployment page links its Runs tab.
    let path = format!("/deployments/{}", o.id);
    let overview = page(&c, &path, Some(&read)).await.expect(StatusCode::OK);
    assert!(
        overview.text.contains(&format!("href=\"{path}/runs\"")),
        "{}",
        overview.text
    );
    // The tab: newest first, 25 a page, only this deployment's runs, each linked.
    let runs = page(&c, &format!("{path}/runs"), Some(&read))
        .await
        .expect(StatusCode::OK);
    let ids = listed_runs(&runs.text);
    let expected: Vec<String> = (5..30).rev().map(|n| format!("run-{n:02}")).collect();
    assert_eq!(ids, expected, "{}", runs.text);
    assert!(runs.text.contains("href=\"/runs/run-29\""));
    assert!(
        runs.text.contains("aria-current=\"page\">Runs"),
        "the Runs tab is the current one"
    );
    assert!(
        runs.text.contains("class=\"badge replay\""),
        "run-29 carries a replay badge"
    );
    assert!(
        named_escapes(&runs.text).contains("store: Error: duplicate key &lt;b&gt;order&lt;/b&gt;"),
        "{}",
        runs.text
    );
    assert!(!runs.text.contains("billing-1"));
    // The first page refreshes itself; the older page (by the cursor) holds the rest and does not.
    assert!(
        runs.text.contains(&format!("hx-get=\"{path}/runs/live\"")),
        "{}",
        runs.text
    );
    let older = format!("{path}/runs?before=run-05");
    assert!(
        runs.text.contains(&format!("href=\"{older}\"")),
        "{}",
        runs.text
    );
    let second = page(&c, &older, Some(&read)).await.expect(StatusCode::OK);
    assert_eq!(
        listed_runs(&second.text),
        ["run-04", "run-03", "run-02", "run-01", "run-00"]
    );
    assert!(
        !second.text.contains("hx-get="),
        "an older page does not refresh"
    );
    assert!(!second.text.contains("Older runs"));
    assert!(
        second
            .text
            .contains(&format!("href=\"{path}/runs\">Newest"))
    );
    // Filters: by status, by trigger kind (`cron` matches `cron:nightly`), both kept by paging
    // and by the refresh.
    let failed = page(&c, &format!("{path}/runs?status=failed"), Some(&read))
        .await
        .expect(StatusCode::OK);
    let expected: Vec<String> = (0..30)
        .rev()
        .filter(|n| n % 3 == 0)
        .map(|n| format!("run-{n:02}"))
        .collect();
    assert_eq!(listed_runs(&failed.text), expected);
    assert!(
        failed.text.contains("<option value=\"failed\" selected>"),
        "{}",
        failed.text
    );
    assert!(
        failed
            .text
            .contains(&format!("hx-get=\"{path}/runs/live?status=failed\""))
    );
    let cron = page(
        &c,
        &format!("{path}/runs?status=failed&trigger=cron"),
        Some(&read),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(
        listed_runs(&cron.text),
        ["run-27", "run-21", "run-15", "run-09", "run-03"]
    );
    let live = page(
        &c,
        &format!("{path}/runs/live?status=succeeded&trigger=http"),
        Some(&read),
    )
    .await
    .expect(StatusCode::OK);
    assert!(!live.text.contains("<html"), "the refresh is a fragment");
    assert!(listed_runs(&live.text).iter().all(|id| {
        let n: i64 = id[4..].parse().unwrap();
        n % 3 != 0 && n % 2 == 0
    }));
    // A bad filter is refused with the API's message.
    let bad = page(&c, &format!("{path}/runs?status=exploded"), Some(&read)).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
    assert!(bad.text.contains("unknown run status"), "{}", bad.text);

    // The run page: header, one bar per node that ran, attempts, last progress, outputs, logs.
    let run = page(&c, "/runs/run-27", Some(&read))
        .await
        .expect(StatusCode::OK);
    let t = &named_escapes(&run.text);
    assert!(t.contains("data-status=\"failed\""), "{t}");
    assert!(
        t.contains(&format!("href=\"/deployments/{}/runs\"", o.id)),
        "breadcrumb back to the tab"
    );
    assert_eq!(
        t.matches("<rect ").count(),
        3,
        "one bar per node that ran: {t}"
    );
    // Bars relative to the run's 400 ms: fetch from 25 % for 50 %, store from 75 % for 25 %.
    assert!(
        t.contains("class=\"failed\" x=\"75.0%\" y=\"15%\" width=\"25.0%\""),
        "{t}"
    );
    assert!(
        t.contains("class=\"succeeded\" x=\"25.0%\" y=\"15%\" width=\"50.0%\""),
        "{t}"
    );
    assert!(
        t.contains("<span class=\"retried\">3</span>"),
        "fetch's 3 attempts: {t}"
    );
    assert!(
        t.contains("value=\"75\""),
        "the last progress of fetch: {t}"
    );
    assert!(t.contains("page 3 of 4") && !t.contains("first page"));
    assert!(t.contains("did not run"), "notify was skipped");
    assert!(t.contains("id=\"run-error\""));
    // Everything node code wrote is escaped: logs, outputs, the error.
    assert!(!t.contains("<script>alert"), "{t}");
    assert!(
        t.contains("&lt;script&gt;alert(&#39;log&#39;)&lt;/script&gt; parsed"),
        "{t}"
    );
    assert!(!t.contains("<img src=x"), "{t}");
    assert!(
        t.contains("&quot;note&quot;: &quot;&lt;img src=x onerror=alert(1)&gt;&quot;"),
        "{t}"
    );
    assert!(t.contains("duplicate key &lt;b&gt;order&lt;/b&gt;"));
    // Read sees no Replay.
    assert!(!t.contains("id=\"replay\""));
    // The replay: linked to its original, input and output shown.
    let replayed = page(&c, "/runs/run-29", Some(&read))
        .await
        .expect(StatusCode::OK);
    assert!(
        replayed
            .text
            .contains("href=\"/runs/run-28\" id=\"replay-of\""),
        "{}",
        named_escapes(&replayed.text)
    );
    assert!(
        named_escapes(&replayed.text).contains("&quot;order&quot;: &quot;&lt;o1&gt;&quot;"),
        "{}",
        named_escapes(&replayed.text)
    );
    // What the caps dropped is counted on the page; a run without drops says nothing.
    assert!(
        replayed
            .text
            .contains("7 log lines and 0 progress updates were counted, not kept"),
        "{}",
        replayed.text
    );
    assert!(!t.contains("counted, not kept"));
    // Unknown runs: the 404 page; no session: to sign-in.
    let missing = page(&c, "/runs/nope", Some(&read))
        .await
        .expect(StatusCode::NOT_FOUND);
    assert!(missing.text.contains("Not found"), "{}", missing.text);
    let r = page(&c, "/runs/run-27", None)
        .await
        .expect(StatusCode::SEE_OTHER);
    assert_eq!(r.headers["location"], "/signin");
    page(&c, &format!("{path}/runs"), None)
        .await
        .expect(StatusCode::SEE_OTHER);
    // A deployment that does not exist has no Runs tab.
    page(&c, "/deployments/nope/runs", Some(&read))
        .await
        .expect(StatusCode::NOT_FOUND);
}
both!(runs_tab_and_run_page);

/// A stand-in for a deployment's engine on a free loopback port: answers `POST /run` as the
/// engine does (the run's outcome), and keeps the `x-pipedreamer-replay-of` header and body of
/// each call. Returns the port and the calls.
async fn fake_engine() -> (
    u16,
    std::sync::Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>,
) {
    use axum::routing::post;
    let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = calls.clone();
    let app = axum::Router::new().route(
        "/run",
        post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| async move {
                let of = headers
                    .get("x-pipedreamer-replay-of")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let input = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                seen.lock().unwrap().push((of, input));
                axum::Json(json!({"run_id": "run-new", "status": "succeeded", "output": {"ok": 1}, "nodes": {}}))
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, calls)
}

async fn replay_from_the_run_page(db: Db) {
    let c = common::ctx(db).await;
    let ws = c.workspace("team-a").await;
    // A local deployment whose engine is the stand-in, running.
    let d = c
        .store
        .create_deployment(pipedreamer_store::NewDeployment {
            workspace_id: ws,
            name: "orders".into(),
            description: String::new(),
            repo: "file:///nonexistent".into(),
            branch: "main".into(),
            path: ".".into(),
            target: pipedreamer_store::Target::Local,
            auto_rebuild: false,
            subdomain: None,
            webhook_secret: "unused".into(),
        })
        .await
        .unwrap();
    let (port, calls) = fake_engine().await;
    c.store.set_local_port(&d.id, port).await.unwrap();
    c.store
        .set_deployment_state(&d.id, pipedreamer_store::DeploymentStatus::Running, None)
        .await
        .unwrap();
    let with_input = run_json("run-in", 1, "failed", json!({"input": {"order": 7}}));
    let without = run_json("run-bare", 2, "failed", json!({}));
    c.store
        .insert_runs(
            Some(&d.id),
            &[
                serde_json::from_value(with_input).unwrap(),
                serde_json::from_value(without).unwrap(),
            ],
        )
        .await
        .unwrap();

    // Read: no button, and the server refuses the post with a valid token.
    let (read, _) = sign_in(&c, &c.read).await;
    let r = page(&c, "/runs/run-in", Some(&read))
        .await
        .expect(StatusCode::OK);
    assert!(!r.text.contains("id=\"replay\""));
    let token = csrf(&r.text);
    form(
        &c,
        "/runs/run-in/replay",
        Some(&read),
        Some(ORIGIN),
        &[("csrf", &token)],
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    // Deploy: the button; a cross-site post or a wrong token is refused.
    let (deploy, _) = sign_in(&c, &c.deploy).await;
    let r = page(&c, "/runs/run-in", Some(&deploy))
        .await
        .expect(StatusCode::OK);
    assert!(r.text.contains("id=\"replay\""), "{}", r.text);
    let token = csrf(&r.text);
    form(
        &c,
        "/runs/run-in/replay",
        Some(&deploy),
        Some("https://evil.example"),
        &[("csrf", &token)],
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    form(
        &c,
        "/runs/run-in/replay",
        Some(&deploy),
        Some(ORIGIN),
        &[("csrf", "0000")],
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    assert!(
        calls.lock().unwrap().is_empty(),
        "a refused post reached the engine"
    );
    // No recorded input: the API's 409 on the run's page, with its hint; nothing ran.
    let r = page(&c, "/runs/run-bare", Some(&deploy))
        .await
        .expect(StatusCode::OK);
    assert!(
        r.text.contains("has no recorded input"),
        "the page says so before: {}",
        r.text
    );
    let r = form(
        &c,
        "/runs/run-bare/replay",
        Some(&deploy),
        Some(ORIGIN),
        &[("csrf", &token)],
    )
    .await
    .expect(StatusCode::CONFLICT);
    let error = r
        .text
        .split("id=\"replay-error\">")
        .nth(1)
        .expect("the refusal on the page");
    assert!(
        error.contains("cannot be replayed") && error.contains("record_io"),
        "{error}"
    );
    assert!(
        r.text.contains("data-status=\"failed\""),
        "still the run's page"
    );
    assert!(calls.lock().unwrap().is_empty());
    // With input: the engine runs it (the input and the header), then the new run's page,
    // which waits for the record, polling `ready`.
    let r = form(
        &c,
        "/runs/run-in/replay",
        Some(&deploy),
        Some(ORIGIN),
        &[("csrf", &token)],
    )
    .await
    .expect(StatusCode::SEE_OTHER);
    assert_eq!(r.headers["location"], "/runs/run-new?replay_of=run-in");
    assert_eq!(
        calls.lock().unwrap().clone(),
        [("run-in".to_owned(), json!({"order": 7}))]
    );
    let pending = page(&c, "/runs/run-new?replay_of=run-in", Some(&deploy))
        .await
        .expect(StatusCode::ACCEPTED);
    assert!(
        pending.text.contains("hx-get=\"/runs/run-new/ready\""),
        "{}",
        pending.text
    );
    let ready = page(&c, "/runs/run-new/ready", Some(&deploy))
        .await
        .expect(StatusCode::NO_CONTENT);
    assert!(!ready.headers.contains_key("hx-redirect"));
    // Without `replay_of` an unknown run is just not found.
    page(&c, "/runs/run-new", Some(&deploy))
        .await
        .expect(StatusCode::NOT_FOUND);
    // The engine's report arrives: `ready` sends the page to the run.
    let new = run_json("run-new", 3, "succeeded", json!({"replay_of": "run-in"}));
    c.store
        .insert_runs(Some(&d.id), &[serde_json::from_value(new).unwrap()])
        .await
        .unwrap();
    let ready = page(&c, "/runs/run-new/ready", Some(&deploy))
        .await
        .expect(StatusCode::OK);
    assert_eq!(ready.headers["hx-redirect"], "/runs/run-new");
    let r = page(&c, "/runs/run-new?replay_of=run-in", Some(&deploy))
        .await
        .expect(StatusCode::OK);
    assert!(
        r.text.contains("href=\"/runs/run-in\" id=\"replay-of\""),
        "{}",
        r.text
    );
    // A stopped deployment: the API's refusal, on the page.
    c.store
        .set_deployment_state(&d.id, pipedreamer_store::DeploymentStatus::Stopped, None)
        .await
        .unwrap();
    let r = form(
        &c,
        "/runs/run-in/replay",
        Some(&deploy),
        Some(ORIGIN),
        &[("csrf", &token)],
    )
    .await
    .expect(StatusCode::CONFLICT);
    assert!(r.text.contains("is stopped"), "{}", r.text);
    assert_eq!(calls.lock().unwrap().len(), 1);
}
both!(replay_from_the_run_page);

//! An in-process stand-in for the Kubernetes API server, for API-contract tests: it serves the
//! paths the CLI uses with real Kubernetes JSON shapes, keeps objects in memory, and records every
//! request so tests can check verbs, paths, patch types, field managers and label selectors.
//! It is not a cluster: no controllers run, so tests set pod and Deployment statuses themselves.
//! Like a real API server, it serves a group outside the built-in ones (the Gateway API,
//! cert-manager) only while a CustomResourceDefinition for it is stored ([`FakeKube::install_crd`]):
//! without one, its paths and its discovery document answer 404.

use axum::body::Bytes;
use axum::extract::Query;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) content_type: String,
    pub(crate) body: Value,
}

impl Recorded {
    /// `METHOD path?query`, query parameters sorted so the order a client picks does not matter.
    pub(crate) fn line(&self) -> String {
        let mut params: Vec<&str> = self.query.split('&').filter(|p| !p.is_empty()).collect();
        params.sort_unstable();
        if params.is_empty() {
            format!("{} {}", self.method, self.path)
        } else {
            format!("{} {}?{}", self.method, self.path, params.join("&"))
        }
    }
}

#[derive(Default)]
pub(crate) struct State {
    pub(crate) requests: Vec<Recorded>,
    /// Item path → object.
    pub(crate) objects: BTreeMap<String, Value>,
    /// `verb resource[/sub]` pairs the SelfSubjectAccessReview denies.
    pub(crate) denied: Vec<String>,
    /// Status given to Deployments when applied.
    pub(crate) deployment_status: Option<Value>,
    /// Phase given to `run` pods when created, and their log text (`{payload}` is replaced).
    pub(crate) run_pod_phase: String,
    pub(crate) run_pod_log: String,
    /// Engine pod log text.
    pub(crate) engine_log: String,
}

pub(crate) struct FakeKube {
    pub(crate) state: Arc<Mutex<State>>,
    pub(crate) kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

fn status(code: u16, reason: &str, message: String) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code});
    (StatusCode::from_u16(code).unwrap(), axum::Json(body)).into_response()
}

fn ok(v: Value) -> Response {
    axum::Json(v).into_response()
}

fn matches_selector(object: &Value, selector: &str) -> bool {
    selector.split(',').filter(|s| !s.is_empty()).all(|term| {
        let (k, v) = term.split_once('=').unwrap();
        object["metadata"]["labels"][k] == v
    })
}

/// RFC 7386: objects merge key by key, `null` removes a key, anything else replaces.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(changes) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let object = target.as_object_mut().unwrap();
    for (key, value) in changes {
        if value.is_null() {
            object.remove(key);
        } else {
            merge_patch(object.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

fn kind_of(resource: &str) -> &'static str {
    match resource {
        "deployments" => "Deployment",
        "services" => "Service",
        "cronjobs" => "CronJob",
        "jobs" => "Job",
        "pods" => "Pod",
        "secrets" => "Secret",
        "events" => "Event",
        "roles" => "Role",
        "rolebindings" => "RoleBinding",
        "serviceaccounts" => "ServiceAccount",
        "namespaces" => "Namespace",
        "ingresses" => "Ingress",
        "networkpolicies" => "NetworkPolicy",
        "ciliumnetworkpolicies" => "CiliumNetworkPolicy",
        "ingressclasses" => "IngressClass",
        "httproutes" => "HTTPRoute",
        "gateways" => "Gateway",
        "clusterissuers" => "ClusterIssuer",
        "customresourcedefinitions" => "CustomResourceDefinition",
        _ => "Unknown",
    }
}

/// API groups every cluster serves; any other group needs a CRD.
const BUILT_IN_GROUPS: &[&str] = &[
    "apps",
    "batch",
    "networking.k8s.io",
    "node.k8s.io",
    "rbac.authorization.k8s.io",
    "authorization.k8s.io",
    "apiextensions.k8s.io",
];

/// Where CRDs are stored.
const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";

/// The stored CRDs of `group`.
fn crds_of<'a>(objects: &'a BTreeMap<String, Value>, group: &str) -> Vec<&'a Value> {
    objects
        .iter()
        .filter(|(k, v)| k.starts_with(&format!("{CRDS}/")) && v["spec"]["group"] == group)
        .map(|(_, v)| v)
        .collect()
}

/// Splits `/api/v1/namespaces/ns/pods/name/log` into (collection path, resource, name, sub).
fn split(path: &str) -> Option<(String, String, Option<String>, Option<String>)> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let base = match parts.first() {
        Some(&"api") => 2,
        Some(&"apis") => 3,
        _ => return None,
    };
    let rest = &parts[base..];
    let (prefix_len, resource_idx) = if rest.first() == Some(&"namespaces") && rest.len() >= 3 {
        (base + 2, 2)
    } else {
        (base, 0)
    };
    let resource = rest.get(resource_idx)?.to_string();
    let collection = format!("/{}", parts[..prefix_len].join("/"));
    Some((
        collection,
        resource,
        rest.get(resource_idx + 1).map(|s| s.to_string()),
        rest.get(resource_idx + 2).map(|s| s.to_string()),
    ))
}

fn handle(
    state: &Mutex<State>,
    method: Method,
    uri: Uri,
    params: HashMap<String, String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or_default().to_owned();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let parsed: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .unwrap_or_else(|_| json!({"raw": String::from_utf8_lossy(&body)}))
    };
    let mut st = state.lock().unwrap();
    st.requests.push(Recorded {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        content_type: content_type.clone(),
        body: parsed.clone(),
    });
    if path == "/version" {
        return ok(
            json!({"major": "1", "minor": "33", "gitVersion": "v1.33.1", "gitCommit": "x",
            "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.24",
            "compiler": "gc", "platform": "linux/amd64"}),
        );
    }
    if path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews" {
        let attrs = &parsed["spec"]["resourceAttributes"];
        let mut what = attrs["resource"].as_str().unwrap_or_default().to_owned();
        if let Some(sub) = attrs["subresource"].as_str().filter(|s| !s.is_empty()) {
            what = format!("{what}/{sub}");
        }
        let key = format!("{} {what}", attrs["verb"].as_str().unwrap_or_default());
        let mut review = parsed.clone();
        review["status"] = json!({"allowed": !st.denied.contains(&key)});
        return (StatusCode::CREATED, axum::Json(review)).into_response();
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if parts.first() == Some(&"apis") && parts.len() >= 3 && !BUILT_IN_GROUPS.contains(&parts[1]) {
        let group = parts[1];
        let crds = crds_of(&st.objects, group);
        if parts.len() == 3 {
            // Discovery of a CRD-backed group/version.
            let resources: Vec<Value> = crds
                .iter()
                .map(|c| json!({"name": c["spec"]["names"]["plural"], "singularName": "",
                    "namespaced": c["spec"]["scope"] == "Namespaced", "kind": c["spec"]["names"]["kind"],
                    "verbs": ["delete", "get", "list", "patch", "create", "update", "watch"]}))
                .collect();
            if resources.is_empty() {
                return status(
                    404,
                    "NotFound",
                    "the server could not find the requested resource".into(),
                );
            }
            return ok(json!({"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": format!("{group}/{}", parts[2]), "resources": resources}));
        }
        let served = split(&path).is_some_and(|(_, resource, _, _)| {
            crds.iter()
                .any(|c| c["spec"]["names"]["plural"] == resource.as_str())
        });
        if !served {
            return status(
                404,
                "NotFound",
                "the server could not find the requested resource".into(),
            );
        }
    }
    let Some((collection, resource, name, sub)) = split(&path) else {
        return status(404, "NotFound", format!("the server could not find {path}"));
    };
    let item_path = name
        .as_ref()
        .map(|n| format!("{collection}/{resource}/{n}"));
    match (method.as_str(), item_path, sub.as_deref()) {
        ("GET", None, _) => {
            let prefix = format!("{collection}/{resource}/");
            let selector = params.get("labelSelector").cloned().unwrap_or_default();
            let items: Vec<Value> = st
                .objects
                .iter()
                .filter(|(k, _)| k.starts_with(&prefix) && !k[prefix.len()..].contains('/'))
                .map(|(_, v)| v.clone())
                .filter(|o| matches_selector(o, &selector))
                .collect();
            ok(
                json!({"apiVersion": "v1", "kind": format!("{}List", kind_of(&resource)),
                "metadata": {"resourceVersion": "1"}, "items": items}),
            )
        }
        ("GET", Some(item), Some("log")) => match st.objects.get(&item) {
            None => status(
                404,
                "NotFound",
                format!("pods {:?} not found", name.unwrap()),
            ),
            Some(pod) => {
                let text = if pod["metadata"]["labels"]["app.kubernetes.io/component"] == "run" {
                    let args = pod["spec"]["containers"][0]["args"].as_array().unwrap();
                    let at = args.iter().position(|a| a == "--data-binary").unwrap();
                    st.run_pod_log
                        .replace("{payload}", args[at + 1].as_str().unwrap())
                } else {
                    let tail: usize = params
                        .get("tailLines")
                        .and_then(|t| t.parse().ok())
                        .unwrap_or(usize::MAX);
                    let lines: Vec<&str> = st.engine_log.lines().collect();
                    let start = lines.len().saturating_sub(tail);
                    lines[start..].iter().map(|l| format!("{l}\n")).collect()
                };
                text.into_response()
            }
        },
        ("GET", Some(item), _) => match st.objects.get(&item) {
            Some(o) => ok(o.clone()),
            None => status(
                404,
                "NotFound",
                format!("{resource} {:?} not found", name.unwrap()),
            ),
        },
        // A JSON merge patch (RFC 7386) changes what is stored; like the API server, only an
        // existing object can be patched this way.
        ("PATCH", Some(item), None) if content_type == "application/merge-patch+json" => {
            match st.objects.get_mut(&item) {
                Some(object) => {
                    merge_patch(object, &parsed);
                    ok(object.clone())
                }
                None => status(
                    404,
                    "NotFound",
                    format!("{resource} {:?} not found", name.unwrap()),
                ),
            }
        }
        ("PATCH", Some(item), None) => {
            if content_type != "application/apply-patch+yaml" {
                return status(
                    415,
                    "UnsupportedMediaType",
                    format!("unexpected patch type {content_type}"),
                );
            }
            let mut object = parsed;
            let previous = st.objects.get(&item).cloned();
            let generation = previous.as_ref().map_or(1, |p| {
                let same_spec = p["spec"] == object["spec"];
                p["metadata"]["generation"].as_i64().unwrap_or(1) + i64::from(!same_spec)
            });
            object["metadata"]["uid"] = json!(format!("uid-{}", name.clone().unwrap()));
            object["metadata"]["generation"] = json!(generation);
            object["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
            if let Some(s) = st
                .deployment_status
                .as_ref()
                .filter(|_| resource == "deployments")
            {
                {
                    let mut s = s.clone();
                    s["observedGeneration"] = json!(generation);
                    object["status"] = s;
                }
            }
            st.objects.insert(item, object.clone());
            ok(object)
        }
        ("POST", None, _) => {
            let mut object = parsed;
            let name = object["metadata"]["name"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| {
                    format!(
                        "{}x7k2q",
                        object["metadata"]["generateName"]
                            .as_str()
                            .unwrap_or("obj-")
                    )
                });
            object["metadata"]["name"] = json!(name);
            if resource == "pods" {
                object["status"] = json!({"phase": st.run_pod_phase});
            }
            st.objects
                .insert(format!("{collection}/{resource}/{name}"), object.clone());
            (StatusCode::CREATED, axum::Json(object)).into_response()
        }
        ("DELETE", Some(item), None) => match st.objects.remove(&item) {
            Some(o) => ok(o),
            None => status(
                404,
                "NotFound",
                format!("{resource} {:?} not found", name.unwrap()),
            ),
        },
        _ => status(
            405,
            "MethodNotAllowed",
            format!("{method} {path} is not served by the fake"),
        ),
    }
}

impl FakeKube {
    pub(crate) fn start() -> Self {
        let state = Arc::new(Mutex::new(State {
            run_pod_phase: "Succeeded".to_owned(),
            run_pod_log:
                "{\"run_id\":\"r1\",\"status\":\"succeeded\",\"output\":{payload},\"nodes\":{}}"
                    .to_owned(),
            ..State::default()
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = state.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new().fallback(
                    move |method: Method,
                          uri: Uri,
                          Query(params): Query<HashMap<String, String>>,
                          headers: HeaderMap,
                          body: Bytes| {
                        let shared = shared.clone();
                        async move { handle(&shared, method, uri, params, headers, body) }
                    },
                );
                axum::serve(listener, app).await.unwrap();
            });
        });
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, kubeconfig_for(&format!("http://{addr}"))).unwrap();
        let fake = Self {
            state,
            kubeconfig,
            _dir: dir,
        };
        fake.put(
            "/api/v1/namespaces/prod",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}}),
        );
        fake.put("/apis/node.k8s.io/v1/runtimeclasses/gvisor", json!({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": "gvisor"}, "handler": "runsc"}));
        fake
    }

    pub(crate) fn put(&self, path: &str, object: Value) {
        self.state
            .lock()
            .unwrap()
            .objects
            .insert(path.to_owned(), object);
    }

    /// Stores the CRD of `plural.group` (kind `kind`), which makes the API serve that resource.
    pub(crate) fn install_crd(&self, group: &str, plural: &str, kind: &str, namespaced: bool) {
        self.put(
            &format!("{CRDS}/{plural}.{group}"),
            json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": format!("{plural}.{group}")},
                "spec": {"group": group, "scope": if namespaced { "Namespaced" } else { "Cluster" },
                    "names": {"plural": plural, "kind": kind},
                    "versions": [{"name": "v1", "served": true, "storage": true}]}}),
        );
    }

    /// The Gateway API's HTTPRoute and Gateway CRDs.
    pub(crate) fn install_gateway_api(&self) {
        self.install_crd("gateway.networking.k8s.io", "httproutes", "HTTPRoute", true);
        self.install_crd("gateway.networking.k8s.io", "gateways", "Gateway", true);
    }

    /// A stored object, if any.
    pub(crate) fn get(&self, path: &str) -> Option<Value> {
        self.state.lock().unwrap().objects.get(path).cloned()
    }

    pub(crate) fn remove(&self, path: &str) {
        self.state.lock().unwrap().objects.remove(path);
    }

    pub(crate) fn has(&self, path: &str) -> bool {
        self.state.lock().unwrap().objects.contains_key(path)
    }

    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    pub(crate) fn clear_requests(&self) {
        self.state.lock().unwrap().requests.clear();
    }

    /// Request lines other than the preflight's reads, in order.
    pub(crate) fn writes(&self) -> Vec<String> {
        self.requests()
            .iter()
            .filter(|r| r.method != "GET" && !r.path.contains("selfsubjectaccessreviews"))
            .map(Recorded::line)
            .collect()
    }
}

/// A kubeconfig whose current context points at `server`, namespace `prod`.
pub(crate) fn kubeconfig_for(server: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {server}\nusers:\n- name: tester\n  user:\n    token: not-a-real-token\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: tester\n    namespace: prod\ncurrent-context: fake\n"
    )
}

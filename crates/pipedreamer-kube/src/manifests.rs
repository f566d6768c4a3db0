//! The Kubernetes objects of a deployed workflow: a hardened Deployment under gVisor, a ClusterIP
//! Service, with a host an Ingress or HTTPRoute in front of it ([`crate::route`]), and one CronJob
//! per cron trigger. Pure functions of the workflow and the options, so
//! `deploy -o yaml`, `--output-dir` and the live apply all ship the same objects.

use crate::labels;
use crate::network::NetworkOptions;
use crate::route::{Route, RouteOptions};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EmptyDirVolumeSource, HTTPGetAction,
    PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile,
    SecretVolumeSource, SecurityContext, Service, ServicePort, ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use pipedreamer_spec::{Strategy, Workflow};
use std::collections::BTreeMap;

/// The port the engine listens on inside the pod.
pub const ENGINE_PORT: i32 = 8080;
/// The uid and gid the engine runs as (the image's `nonroot` user).
pub const RUN_AS: i64 = 65532;
/// The RuntimeClass every workflow pod runs under.
pub const RUNTIME_CLASS: &str = "gvisor";
/// The curl image CronJobs and `pipedreamer run` use unless told otherwise (pinned, never
/// `latest`, so a deploy means the same thing tomorrow).
pub const DEFAULT_CURL_IMAGE: &str = "curlimages/curl:8.11.1";
/// The pod-template annotation whose change rolls the Deployment out.
pub const SPEC_HASH_ANNOTATION: &str = "pipedreamer.dev/spec-hash";

/// Where the report token Secret is mounted in engine pods.
pub const REPORT_MOUNT: &str = "/app/report";
/// The key (file name) of the token in the report Secret.
pub const REPORT_TOKEN_KEY: &str = "token";

/// Run reporting of a deployed engine: `--report-to <url>` with the token read from the Secret
/// [`labels::report_secret_name`] mounted read-only at [`REPORT_MOUNT`] (the Secret itself is
/// applied separately, by `deploy::apply_report_secret`: manifests carry no secret data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineReport {
    /// The control plane's URL as pods reach it.
    pub url: String,
}

/// What a deploy needs besides the workflow.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    /// Target namespace.
    pub namespace: String,
    /// The image reference the cluster pulls.
    pub image: String,
    /// Hash of the workflow's content; a change rolls the pods.
    pub spec_hash: String,
    /// Image for CronJob pods (`--cron-image`, else `config.cron_image`, else the pinned default).
    pub curl_image: Option<String>,
    /// A public route (Ingress or HTTPRoute) to the Service; `None`: the Service stays
    /// cluster-internal (and a route left from an earlier deploy is pruned).
    pub route: Option<RouteOptions>,
    /// Report runs to the control plane (deployments made by `pipedreamer server`).
    pub report: Option<EngineReport>,
    /// The NetworkPolicy's openings and how egress is restricted ([`crate::network`]).
    pub network: NetworkOptions,
}

/// The objects of one workflow, in apply order.
#[derive(Debug, Clone)]
pub struct Manifests {
    /// What the engine pods may talk to (first, so new pods never run unconfined).
    pub network_policy: NetworkPolicy,
    /// With `--egress-policy cilium`: the egress rules by host name.
    pub cilium_policy: Option<serde_json::Value>,
    /// The engine Deployment.
    pub deployment: Deployment,
    /// The ClusterIP Service in front of it.
    pub service: Service,
    /// The Ingress or HTTPRoute to the Service, when the deploy has a host.
    pub route: Option<Route>,
    /// What `route` was rendered from (the preflight checks its IngressClass, Gateway, issuer).
    pub routing: Option<RouteOptions>,
    /// One per cron trigger, in trigger order.
    pub cron_jobs: Vec<CronJob>,
}

/// Builds the manifests for `workflow`.
pub fn render(workflow: &Workflow, options: &DeployOptions) -> Manifests {
    Manifests {
        network_policy: crate::network::network_policy(workflow, options),
        cilium_policy: crate::network::cilium_policy(workflow, options),
        deployment: deployment(workflow, options),
        service: service(workflow, options),
        route: options
            .route
            .as_ref()
            .map(|r| crate::route::render(workflow, &options.namespace, r)),
        routing: options.route.clone(),
        cron_jobs: cron_jobs(workflow, options),
    }
}

impl Manifests {
    /// Every object as JSON, in apply order (NetworkPolicy, CiliumNetworkPolicy, Deployment,
    /// Service, route, CronJobs).
    pub fn objects(&self) -> Vec<serde_json::Value> {
        let mut all = vec![to_value(&self.network_policy)];
        all.extend(self.cilium_policy.clone());
        all.extend([to_value(&self.deployment), to_value(&self.service)]);
        all.extend(self.route.as_ref().map(Route::to_value));
        all.extend(self.cron_jobs.iter().map(to_value));
        all
    }

    /// The objects as a multi-document YAML stream.
    pub fn to_yaml(&self) -> String {
        crate::yaml::stream(&self.objects())
    }

    /// The objects as a `v1/List`, the JSON form `kubectl apply -f` accepts.
    pub fn to_json(&self) -> String {
        crate::yaml::json_list(self.objects())
    }

    /// The files of a kustomize base: `kustomization.yaml` plus one file per object.
    pub fn kustomize_base(&self) -> Vec<(String, String)> {
        let mut files = Vec::new();
        for object in self.objects() {
            let kind = object["kind"].as_str().unwrap_or("object").to_lowercase();
            let name = object["metadata"]["name"].as_str().unwrap_or("unnamed");
            files.push((
                format!("{name}-{kind}.yaml"),
                crate::yaml::to_string(&object),
            ));
        }
        let namespace = self
            .deployment
            .metadata
            .namespace
            .clone()
            .unwrap_or_default();
        let kustomization = serde_json::json!({
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "namespace": namespace,
            "resources": files.iter().map(|(f, _)| f.clone()).collect::<Vec<_>>(),
        });
        files.insert(
            0,
            (
                "kustomization.yaml".to_owned(),
                crate::yaml::to_string(&kustomization),
            ),
        );
        files
    }

    /// The workflow's name: the name of its Deployment (and Service).
    pub fn name(&self) -> String {
        self.deployment.metadata.name.clone().unwrap_or_default()
    }

    /// The image the engine container runs.
    pub fn image(&self) -> Option<&str> {
        self.deployment
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|s| s.containers.first())
            .and_then(|c| c.image.as_deref())
    }

    /// Names of the CronJobs this deploy keeps; others with the workflow's labels are pruned.
    pub fn cron_job_names(&self) -> Vec<String> {
        self.cron_jobs
            .iter()
            .filter_map(|c| c.metadata.name.clone())
            .collect()
    }
}

pub(crate) fn to_value<T: serde::Serialize>(object: &T) -> serde_json::Value {
    // k8s-openapi types always serialize; the fallback only keeps this infallible in signature.
    serde_json::to_value(object).unwrap_or_default()
}

fn meta(workflow: &Workflow, options: &DeployOptions, name: String, component: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: Some(options.namespace.clone()),
        labels: Some(labels::object_labels(workflow, component)),
        ..ObjectMeta::default()
    }
}

pub(crate) fn quantity(s: &str) -> Quantity {
    Quantity(s.to_owned())
}

fn resources(workflow: &Workflow) -> ResourceRequirements {
    let configured = workflow.config.resources.clone().unwrap_or_default();
    let pick = |set: &Option<String>, default: &str| quantity(set.as_deref().unwrap_or(default));
    let amounts = |memory: Quantity, cpu: Quantity| {
        BTreeMap::from([("cpu".to_owned(), cpu), ("memory".to_owned(), memory)])
    };
    ResourceRequirements {
        requests: Some(amounts(
            pick(&configured.requests.memory, "64Mi"),
            pick(&configured.requests.cpu, "100m"),
        )),
        limits: Some(amounts(
            pick(&configured.limits.memory, "256Mi"),
            pick(&configured.limits.cpu, "500m"),
        )),
        ..ResourceRequirements::default()
    }
}

fn runtime_default_seccomp() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".to_owned(),
        ..SeccompProfile::default()
    }
}

/// The container-level hardening shared by engine, cron and run pods.
pub(crate) fn hardened_container() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        run_as_user: Some(RUN_AS),
        run_as_group: Some(RUN_AS),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_owned()]),
            ..Capabilities::default()
        }),
        seccomp_profile: Some(runtime_default_seccomp()),
        ..SecurityContext::default()
    }
}

/// The pod-level hardening shared by engine, cron and run pods.
pub(crate) fn hardened_pod() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(RUN_AS),
        run_as_group: Some(RUN_AS),
        fs_group: Some(RUN_AS),
        seccomp_profile: Some(runtime_default_seccomp()),
        ..PodSecurityContext::default()
    }
}

/// An HTTP probe of `path` on the container's `http` port (engine and control-plane pods).
pub(crate) fn probe(path: &str, period: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String("http".to_owned()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(2),
        failure_threshold: Some(3),
        ..Probe::default()
    }
}

fn deployment(workflow: &Workflow, options: &DeployOptions) -> Deployment {
    let name = workflow.name.clone();
    let mut args = vec!["--log-format".to_owned(), "json".to_owned()];
    let mut volume_mounts = vec![
        VolumeMount {
            name: "secrets".to_owned(),
            mount_path: "/app/secrets".to_owned(),
            read_only: Some(true),
            ..VolumeMount::default()
        },
        VolumeMount {
            name: "tmp".to_owned(),
            mount_path: "/tmp".to_owned(),
            ..VolumeMount::default()
        },
    ];
    let mut volumes = vec![
        Volume {
            name: "secrets".to_owned(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(labels::secret_name(&name)),
                optional: Some(true),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        },
        Volume {
            name: "tmp".to_owned(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        },
    ];
    if let Some(report) = &options.report {
        args.extend([
            "--report-to".to_owned(),
            report.url.clone(),
            "--report-token-file".to_owned(),
            format!("{REPORT_MOUNT}/{REPORT_TOKEN_KEY}"),
        ]);
        volume_mounts.push(VolumeMount {
            name: "report".to_owned(),
            mount_path: REPORT_MOUNT.to_owned(),
            read_only: Some(true),
            ..VolumeMount::default()
        });
        volumes.push(Volume {
            name: "report".to_owned(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(labels::report_secret_name(&name)),
                // Readable by the engine's group (fsGroup), nobody else.
                default_mode: Some(0o440),
                // Not optional: an engine told to report without its token would not start,
                // and the pod waiting for the Secret says why.
                optional: Some(false),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        });
    }
    let engine = Container {
        name: "engine".to_owned(),
        image: Some(options.image.clone()),
        image_pull_policy: Some("IfNotPresent".to_owned()),
        // The image's entrypoint already names the workflow, port and secrets dir; in a cluster
        // logs go to a collector, so they are JSON. Cron stays off: the CronJobs fire triggers.
        args: Some(args),
        ports: Some(vec![ContainerPort {
            name: Some("http".to_owned()),
            container_port: ENGINE_PORT,
            protocol: Some("TCP".to_owned()),
            ..ContainerPort::default()
        }]),
        resources: Some(resources(workflow)),
        readiness_probe: Some(probe("/readyz", 5)),
        liveness_probe: Some(probe("/healthz", 10)),
        security_context: Some(hardened_container()),
        volume_mounts: Some(volume_mounts),
        ..Container::default()
    };
    let mut template_labels = labels::selector(workflow);
    template_labels.extend(labels::object_labels(workflow, "engine"));
    Deployment {
        metadata: meta(workflow, options, name.clone(), "engine"),
        spec: Some(DeploymentSpec {
            replicas: Some(i32::try_from(workflow.config.replica_count()).unwrap_or(1)),
            // Unset means RollingUpdate; `Recreate` stops the old pod before the new one starts.
            strategy: (workflow.config.strategy == Strategy::Recreate).then(|| {
                DeploymentStrategy {
                    type_: Some(Strategy::Recreate.as_str().to_owned()),
                    rolling_update: None,
                }
            }),
            selector: LabelSelector {
                match_labels: Some(labels::selector(workflow)),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(template_labels),
                    annotations: Some(BTreeMap::from([(
                        SPEC_HASH_ANNOTATION.to_owned(),
                        options.spec_hash.clone(),
                    )])),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    runtime_class_name: Some(RUNTIME_CLASS.to_owned()),
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    // The engine's own shutdown grace is 25 s; leave it room to report.
                    termination_grace_period_seconds: Some(30),
                    security_context: Some(hardened_pod()),
                    containers: vec![engine],
                    volumes: Some(volumes),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

fn service(workflow: &Workflow, options: &DeployOptions) -> Service {
    Service {
        metadata: meta(workflow, options, workflow.name.clone(), "engine"),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_owned()),
            selector: Some(labels::selector(workflow)),
            ports: Some(vec![ServicePort {
                name: Some("http".to_owned()),
                port: ENGINE_PORT,
                target_port: Some(IntOrString::Int(ENGINE_PORT)),
                protocol: Some("TCP".to_owned()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// The in-cluster URL of a workflow's `POST /run`.
pub fn run_url(workflow: &str, namespace: &str) -> String {
    format!("http://{workflow}.{namespace}.svc.cluster.local:{ENGINE_PORT}/run")
}

/// A hardened single-container pod spec that POSTs `payload` to the workflow with curl. Used by
/// CronJobs and by `pipedreamer run`; its labels never match the Service selector, so the
/// Service only ever routes to engine pods.
pub(crate) fn curl_pod_spec(image: &str, url: &str, payload: &str, max_time_secs: u64) -> PodSpec {
    PodSpec {
        restart_policy: Some("Never".to_owned()),
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        security_context: Some(hardened_pod()),
        containers: vec![Container {
            name: "curl".to_owned(),
            image: Some(image.to_owned()),
            image_pull_policy: Some("IfNotPresent".to_owned()),
            command: Some(vec!["curl".to_owned()]),
            args: Some(vec![
                "--silent".to_owned(),
                "--show-error".to_owned(),
                "--max-time".to_owned(),
                max_time_secs.to_string(),
                "--retry".to_owned(),
                "3".to_owned(),
                "--retry-connrefused".to_owned(),
                "-X".to_owned(),
                "POST".to_owned(),
                "-H".to_owned(),
                "content-type: application/json".to_owned(),
                "--data-binary".to_owned(),
                payload.to_owned(),
                url.to_owned(),
            ]),
            resources: Some(ResourceRequirements {
                requests: Some(BTreeMap::from([
                    ("cpu".to_owned(), quantity("10m")),
                    ("memory".to_owned(), quantity("16Mi")),
                ])),
                limits: Some(BTreeMap::from([
                    ("cpu".to_owned(), quantity("100m")),
                    ("memory".to_owned(), quantity("64Mi")),
                ])),
                ..ResourceRequirements::default()
            }),
            security_context: Some(hardened_container()),
            ..Container::default()
        }],
        ..PodSpec::default()
    }
}

/// `<wf>-cron` for a single cron trigger, `<wf>-cron-<i>` for several.
pub fn cron_job_name(workflow: &str, index: usize, count: usize) -> String {
    if count == 1 {
        format!("{workflow}-cron")
    } else {
        format!("{workflow}-cron-{index}")
    }
}

fn cron_jobs(workflow: &Workflow, options: &DeployOptions) -> Vec<CronJob> {
    let triggers: Vec<_> = workflow.cron_triggers().collect();
    let image = options
        .curl_image
        .clone()
        .or_else(|| workflow.config.cron_image.clone())
        .unwrap_or_else(|| DEFAULT_CURL_IMAGE.to_owned());
    let url = run_url(&workflow.name, &options.namespace);
    triggers
        .iter()
        .enumerate()
        .map(|(i, trigger)| {
            let name = cron_job_name(&workflow.name, i, triggers.len());
            let payload = trigger.payload().to_string();
            let pod_labels = labels::helper_pod_labels(&workflow.name, "cron");
            CronJob {
                metadata: meta(workflow, options, name, "cron"),
                spec: Some(CronJobSpec {
                    schedule: trigger.schedule.clone(),
                    time_zone: trigger.timezone.clone(),
                    concurrency_policy: Some("Forbid".to_owned()),
                    successful_jobs_history_limit: Some(3),
                    failed_jobs_history_limit: Some(3),
                    starting_deadline_seconds: Some(300),
                    job_template: JobTemplateSpec {
                        metadata: Some(ObjectMeta {
                            labels: Some(pod_labels.clone()),
                            ..ObjectMeta::default()
                        }),
                        spec: Some(JobSpec {
                            backoff_limit: Some(2),
                            ttl_seconds_after_finished: Some(86_400),
                            template: PodTemplateSpec {
                                metadata: Some(ObjectMeta {
                                    labels: Some(pod_labels),
                                    ..ObjectMeta::default()
                                }),
                                spec: Some(curl_pod_spec(&image, &url, &payload, 600)),
                            },
                            ..JobSpec::default()
                        }),
                    },
                    ..CronJobSpec::default()
                }),
                ..CronJob::default()
            }
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use pipedreamer_spec::source::MemorySource;

    /// Options of a plain deploy to namespace `team`, for this crate's unit tests.
    pub(crate) fn options(report: Option<EngineReport>) -> DeployOptions {
        DeployOptions {
            namespace: "team".into(),
            image: "r/hello:1".into(),
            spec_hash: "abc".into(),
            curl_image: None,
            route: None,
            report,
            network: NetworkOptions::default(),
        }
    }

    #[test]
    fn a_reporting_engine_reads_its_token_from_a_mounted_secret_never_the_environment() {
        let files = MemorySource::from_pairs([
            (
                "workflow.yaml",
                "name: hello\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js}\n",
            ),
            ("a.js", "export default () => 1"),
        ]);
        let workflow = pipedreamer_spec::resolve(&files).unwrap().workflow;
        let plain = render(&workflow, &options(None));
        let report = EngineReport {
            url: "http://pipedreamer.pipedreamer.svc:7070".into(),
        };
        let reporting = render(&workflow, &options(Some(report)));
        let pod = |m: &Manifests| m.deployment.spec.clone().unwrap().template.spec.unwrap();
        let (plain, reporting) = (pod(&plain), pod(&reporting));
        // Without reporting the engine is exactly as before.
        assert_eq!(
            plain.containers[0].args.as_deref().unwrap(),
            ["--log-format", "json"]
        );
        assert!(
            plain
                .volumes
                .as_ref()
                .unwrap()
                .iter()
                .all(|v| v.name != "report")
        );
        let engine = &reporting.containers[0];
        assert_eq!(
            engine.args.as_deref().unwrap(),
            [
                "--log-format",
                "json",
                "--report-to",
                "http://pipedreamer.pipedreamer.svc:7070",
                "--report-token-file",
                "/app/report/token",
            ]
        );
        assert!(engine.env.is_none() && engine.env_from.is_none());
        let mount = engine
            .volume_mounts
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.name == "report")
            .unwrap();
        assert_eq!(
            (mount.mount_path.as_str(), mount.read_only),
            (REPORT_MOUNT, Some(true))
        );
        let volume = reporting
            .volumes
            .as_ref()
            .unwrap()
            .iter()
            .find(|v| v.name == "report")
            .unwrap();
        let secret = volume.secret.as_ref().unwrap();
        assert_eq!(secret.secret_name.as_deref(), Some("hello-report"));
        assert_eq!(secret.optional, Some(false));
    }
}

//! The call sequence the server uses (module docs of `publish`), against real things: the static
//! engine, Debian's docker-registry on loopback, skopeo, and podman for the local target.

use pipedreamer_image::publish::{
    BlobEvent, DaemonPublisher, Destination, LocalEngine, MultiPublisher, OciLayoutPublisher,
    Publisher, RegistryPublisher,
};
use pipedreamer_image::{Error, Reference, cache::PushedRepositories};
use pipedreamer_spec::source::DirSource;
use std::sync::{Arc, Mutex};

mod common;
use common::{Registry, build, tool, workflow};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_built_workflow_goes_to_a_layout_and_a_registry_in_order_with_progress() {
    let registry = Registry::start();
    let wf = workflow("pubtest");
    let scratch = tempfile::tempdir().unwrap();
    let resolved = pipedreamer_spec::resolve(&DirSource::new(wf.path())).unwrap();
    let reference =
        Reference::for_workflow(&resolved.workflow, None, Some(&registry.addr)).unwrap();
    assert_eq!(
        reference.to_string(),
        format!("{}/pubtest:1-2", registry.addr)
    );
    let image = build(wf.path(), &reference).await;

    let pushed = PushedRepositories::at(scratch.path().join("pushed.json"));
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let layout = scratch.path().join("oci");
    let mut publishers = MultiPublisher::new();
    publishers.push(OciLayoutPublisher::new(&layout));
    publishers.push(
        RegistryPublisher::new()
            .pushed_repositories(Some(pushed.clone()))
            .on_blob(move |e| seen.lock().unwrap().push(e.clone())),
    );
    let mut order = Vec::new();
    let all = publishers
        .publish_each(&image, &reference, |p| {
            order.push(matches!(p.destination, Destination::Registry(_)))
        })
        .await
        .unwrap();
    assert_eq!(order, [false, true], "the layout first, then the registry");
    assert!(all.iter().all(|p| p.digest == image.digest()));

    // The registry holds exactly this image; every blob went up and was reported.
    let report = all[1].push_report().unwrap();
    assert_eq!(report.uploaded(), 3);
    assert_eq!(*events.lock().unwrap(), report.blobs);
    let remote = tool(
        "skopeo",
        &[
            "inspect",
            "--tls-verify=false",
            &format!("docker://{reference}"),
        ],
    );
    let remote: serde_json::Value = serde_json::from_str(&remote).unwrap();
    assert_eq!(remote["Digest"], image.digest());
    // And the layout too.
    let local = tool(
        "skopeo",
        &["inspect", &format!("oci:{}:1-2", layout.display())],
    );
    let local: serde_json::Value = serde_json::from_str(&local).unwrap();
    assert_eq!(local["Digest"], image.digest());

    // The push was remembered: another workflow on the same registry mounts the shared engine
    // layer instead of uploading it.
    assert_eq!(pushed.repositories(&registry.addr), ["pubtest"]);
    let other = workflow("othertest");
    let other_ref = Reference::qualified("othertest:1-2", Some(&registry.addr)).unwrap();
    let other_image = build(other.path(), &other_ref).await;
    let published = RegistryPublisher::new()
        .pushed_repositories(Some(pushed.clone()))
        .publish(&other_image, &other_ref)
        .await
        .unwrap();
    let blobs = &published.push_report().unwrap().blobs;
    assert!(
        blobs
            .iter()
            .any(|b| matches!(b, BlobEvent::Mounted { from, .. } if from == "pubtest")),
        "{blobs:?}"
    );
    assert_eq!(
        published.pinned(),
        format!("{other_ref}@{}", other_image.digest())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_target_loads_into_podman_under_the_reference() {
    let wf = workflow("loadtest");
    let scratch = tempfile::tempdir().unwrap();
    // A name no other test uses, so removing it afterwards cannot race anyone.
    let reference =
        Reference::parse(&format!("localhost/loadtest-{}:1-2", std::process::id())).unwrap();
    let image = build(wf.path(), &reference).await;
    let published = DaemonPublisher::new(LocalEngine::Podman)
        .scratch_dir(scratch.path())
        .publish(&image, &reference)
        .await
        .unwrap();
    assert!(matches!(
        published.destination,
        Destination::Daemon {
            engine: LocalEngine::Podman
        }
    ));
    let name = reference.to_string();
    let user = tool(
        "podman",
        &["image", "inspect", "-f", "{{.Config.User}}", &name],
    );
    tool("podman", &["rmi", "-f", &name]);
    assert_eq!(user.trim(), "65532:65532");
    // The temporary archive is gone.
    assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn an_empty_multi_publisher_is_an_error_not_a_silent_success() {
    use pipedreamer_image::blob::{Blob, media};
    let image = pipedreamer_image::Image {
        layers: Vec::new(),
        config: Blob::new(media::CONFIG, b"{}".to_vec()),
        manifest: Blob::new(media::MANIFEST, b"{}".to_vec()),
        reference: Reference::parse("emptytest:1").unwrap(),
        excluded: Vec::new(),
        sbom: None,
    };
    let err = MultiPublisher::new()
        .publish(&image, &image.reference)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoPublisher), "{err}");
}

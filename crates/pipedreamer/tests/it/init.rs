use crate::{pipedreamer, text};

#[test]
fn scaffold_is_valid_and_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let out = pipedreamer(&["init", "My Flow"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let wf = dir.path().join("My Flow");
    let yaml = std::fs::read_to_string(wf.join("workflow.yaml")).unwrap();
    assert!(yaml.contains("name: my-flow"), "{yaml}");
    assert!(
        std::fs::read_to_string(wf.join(".gitignore"))
            .unwrap()
            .contains(".secrets.yaml")
    );
    for f in [
        "nodes/greet.ts",
        "nodes/shout.ts",
        "pipedreamer.d.ts",
        ".secrets.yaml.example",
    ] {
        assert!(wf.join(f).is_file(), "{f} missing");
    }
    let out = pipedreamer(&["validate", "My Flow"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));

    std::fs::write(wf.join("nodes/greet.ts"), "// mine").unwrap();
    let out = pipedreamer(&["init", "My Flow"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("refusing to overwrite"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(wf.join("nodes/greet.ts")).unwrap(),
        "// mine"
    );
}

#[test]
fn bad_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = pipedreamer(&["init", "x", "--name", "Not_OK"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("not a valid workflow name"));
}

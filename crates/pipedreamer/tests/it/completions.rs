//! `pipedreamer completions SHELL` and `pipedreamer --version`.

use crate::{pipedreamer, text};
use std::process::Command;

/// The subcommands every script must offer (a sample across the tree, old and new).
const SUBCOMMANDS: &[&str] = &[
    "init",
    "validate",
    "dev",
    "build",
    "deploy",
    "ci",
    "completions",
];

fn script(shell: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = pipedreamer(&["completions", shell], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn bash_script_parses_and_completes_subcommands_and_values() {
    let bash = script("bash");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pipedreamer.bash");
    std::fs::write(&file, &bash).unwrap();
    let out = Command::new("bash").arg("-n").arg(&file).output().unwrap();
    assert!(out.status.success(), "bash -n: {}", text(&out.stderr));

    // Load it into a real bash and ask it, as bash does on TAB: `pipedreamer <TAB>`, then
    // `pipedreamer ci <TAB>` (the provider's values).
    let ask = |words: &str| {
        let program = format!(
            "source {file}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}; \
             _pipedreamer pipedreamer \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            file = file.display()
        );
        let out = Command::new("bash")
            .args(["--norc", "--noprofile", "-c", &program])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let top = ask("pipedreamer ''");
    for sub in SUBCOMMANDS {
        assert!(top.iter().any(|w| w == sub), "{sub} not offered: {top:?}");
    }
    let providers = ask("pipedreamer ci ''");
    for p in ["github", "gitlab"] {
        assert!(
            providers.iter().any(|w| w == p),
            "{p} not offered: {providers:?}"
        );
    }
    let shells = ask("pipedreamer completions ''");
    for s in ["bash", "zsh", "fish", "powershell"] {
        assert!(shells.iter().any(|w| w == s), "{s} not offered: {shells:?}");
    }
}

#[test]
fn zsh_fish_and_powershell_scripts_name_the_subcommands() {
    for (shell, marker) in [
        ("zsh", "#compdef pipedreamer"),
        ("fish", "complete -c pipedreamer"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let script = script(shell);
        assert!(script.contains(marker), "{shell}: no `{marker}`");
        for sub in SUBCOMMANDS {
            assert!(script.contains(sub), "{shell}: `{sub}` missing");
        }
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = pipedreamer(&["completions", "tcsh"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("possible values"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn version_names_the_engine_it_pairs_with() {
    let dir = tempfile::tempdir().unwrap();
    let v = env!("CARGO_PKG_VERSION");
    let out = pipedreamer(&["--version"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("pipedreamer {v} (engine {v})\n"));
    // Subcommands say the same (propagated).
    let out = pipedreamer(&["ci", "--version"], dir.path());
    assert_eq!(
        text(&out.stdout),
        format!("pipedreamer-ci {v} (engine {v})\n")
    );
}

/// A shell the completion tests run, or a clear failure (scripts/test.sh installs them).
fn shell(name: &str) -> Command {
    let found = Command::new(name)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`{name}` is missing: `apt-get install -y {name}` (scripts/test.sh does)"
    );
    Command::new(name)
}

#[test]
fn zsh_and_fish_accept_their_scripts_and_fish_completes_from_it() {
    let dir = tempfile::tempdir().unwrap();
    for (name, file) in [("zsh", "_pipedreamer"), ("fish", "pipedreamer.fish")] {
        let path = dir.path().join(file);
        std::fs::write(&path, script(name)).unwrap();
        let out = shell(name).arg("-n").arg(&path).output().unwrap();
        assert!(out.status.success(), "{name} -n: {}", text(&out.stderr));
    }
    // fish answers completions on demand: the subcommands, and `init --ci`'s values.
    let ask = |line: &str| {
        let out = shell("fish")
            .arg("--no-config")
            .arg("-c")
            .arg(format!(
                "source {}; complete -C '{line}'",
                dir.path().join("pipedreamer.fish").display()
            ))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
            .lines()
            .map(|l| l.split('\t').next().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    let top = ask("pipedreamer ");
    for sub in SUBCOMMANDS {
        assert!(top.iter().any(|w| w == sub), "{sub} not offered: {top:?}");
    }
    assert_eq!(ask("pipedreamer init --ci "), ["github", "gitlab"]);
}

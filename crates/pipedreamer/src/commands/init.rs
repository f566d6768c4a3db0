//! `pipedreamer init`: a working scaffold; never overwrites a file. `--ci github|gitlab` also
//! writes the CI file `pipedreamer ci` writes (checked for before anything is written).

use crate::cli::{InitArgs, OutputFormat};
use crate::output;
use anyhow::{Context, bail};
use std::path::Path;

const FILES: &[(&str, &str)] = &[
    ("workflow.yaml", include_str!("../templates/workflow.yaml")),
    ("nodes/greet.ts", include_str!("../templates/greet.ts")),
    ("nodes/shout.ts", include_str!("../templates/shout.ts")),
    (
        "pipedreamer.d.ts",
        include_str!("../../../../examples/hello/pipedreamer.d.ts"),
    ),
    (
        ".secrets.yaml.example",
        include_str!("../templates/secrets.yaml.example"),
    ),
    (".gitignore", include_str!("../templates/gitignore")),
    (
        "tests/greet.yaml",
        include_str!("../templates/tests/greet.yaml"),
    ),
];

/// A DNS-1123 label from a directory name.
fn name_from(dir: &Path) -> String {
    let base = std::fs::canonicalize(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "workflow".into());
    let name = pipedreamer_spec::validate::suggest_dns_label(&base);
    if name.is_empty() {
        "workflow".into()
    } else {
        name
    }
}

/// Runs the command.
pub fn run(args: InitArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create `{}`", args.dir.display()))?;
    let name = args.name.clone().unwrap_or_else(|| name_from(&args.dir));
    if !pipedreamer_spec::validate::is_dns_label(&name) {
        bail!(
            "`{name}` is not a valid workflow name: use lowercase letters, digits and `-` (at most 63), e.g. `--name my-workflow`"
        );
    }
    let existing: Vec<&str> = FILES
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| args.dir.join(p).exists())
        .collect();
    // The CI file's place depends on the repository the new directory is in; found (and
    // checked free) before any file is written, so a refusal leaves nothing half-done.
    let ci = args
        .ci
        .map(|provider| crate::commands::ci::Plan::new(provider, &args.dir, None))
        .transpose()?;
    if let Some(plan) = &ci {
        plan.check_free(false)?;
    }
    if !existing.is_empty() {
        bail!(
            "refusing to overwrite existing files in `{}`: {}\nhint: run `pipedreamer init` in an empty directory, or pass a new one: `pipedreamer init my-workflow`",
            args.dir.display(),
            existing.join(", ")
        );
    }
    for (path, content) in FILES {
        let target = args.dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, content.replace("{{name}}", &name))
            .with_context(|| format!("cannot write `{}`", target.display()))?;
    }
    let ci_path = ci.as_ref().map(|plan| plan.write(false)).transpose()?;
    match args.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::json!({ "name": name, "dir": args.dir, "created": FILES.iter().map(|(p, _)| p).collect::<Vec<_>>(), "ci": ci_path })
        ),
        OutputFormat::Text => {
            output::success(&format!(
                "created workflow `{name}` in `{}`",
                args.dir.display()
            ));
            for (path, _) in FILES {
                eprintln!("  {path}");
            }
            if let (Some(plan), Some(path)) = (&ci, &ci_path) {
                plan.report(path, OutputFormat::Text);
            }
            output::hint(&format!(
                "run it: pipedreamer dev {dir}; test it: pipedreamer test {dir}",
                dir = args.dir.display()
            ));
        }
    }
    Ok(())
}

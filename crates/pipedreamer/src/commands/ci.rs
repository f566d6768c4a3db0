//! `pipedreamer ci github|gitlab [DIR]` (and `init --ci`): a CI file at the repository's root
//! that validates and tests the workflow on pull requests and, on the default branch and `v*`
//! tags, builds its image and pushes it (GHCR or the GitLab project's registry).
//!
//! The files come from `templates/ci/`; what varies is filled in here: the workflow directory
//! relative to the git repository's root (so a workflow in a subdirectory works), the branch
//! that publishes (GitHub only: GitLab has `$CI_DEFAULT_BRANCH`), the pinned CLI version and
//! the toolchain that builds it. An existing file is replaced only with `--force`.

use crate::cli::{CiArgs, CiProvider, OutputFormat};
use crate::output;
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the CLI is installed from in CI (`cargo install --git … --tag v<version>`).
const SOURCE: &str = "https://github.com/pipedreamer/pipedreamer";
/// The toolchain CI builds the CLI and engine with. Pinned because the engine binary, and so the
/// image digest, depends on the compiler; this is the one releases are tested with.
const RUST_TOOLCHAIN: &str = "1.95.0";
/// The engine must be static (it lives alone in a FROM-scratch image); an explicit target keeps
/// `+crt-static` away from build scripts and proc-macros.
const TARGET: &str = "x86_64-unknown-linux-gnu";

const GITHUB: &str = include_str!("../templates/ci/github.yml");
const GITHUB_INSTALL: &str = include_str!("../templates/ci/github-install.yml");
const GITLAB: &str = include_str!("../templates/ci/gitlab.yml");

impl CiProvider {
    /// The file's path relative to the repository root.
    pub fn file(self) -> &'static str {
        match self {
            Self::Github => ".github/workflows/pipedreamer.yml",
            Self::Gitlab => ".gitlab-ci.yml",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Github => "github",
            Self::Gitlab => "gitlab",
        }
    }
}

/// Where the publishing branch name came from (GitHub only), so the output can say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BranchSource {
    /// `--branch`.
    Flag,
    /// The remote's default branch (`origin/HEAD`).
    Remote,
    /// The branch checked out (a repository without a remote yet).
    Current,
    /// Not a git repository, or no branch: `main`.
    Fallback,
}

impl BranchSource {
    fn describe(self) -> &'static str {
        match self {
            Self::Flag => "from --branch",
            Self::Remote => "the remote's default branch",
            Self::Current => "the current branch; no remote default branch yet",
            Self::Fallback => "no git branch found",
        }
    }
}

/// Everything a CI file depends on, found before anything is written.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The CI system.
    pub provider: CiProvider,
    /// The git repository's root (the workflow directory itself outside a repository).
    pub root: PathBuf,
    /// Whether `root` is a git repository's root.
    pub in_git: bool,
    /// The workflow directory (canonical).
    pub dir: PathBuf,
    /// The workflow directory relative to `root`, `/`-separated; `.` when it is the root.
    pub workflow_dir: String,
    /// The branch whose pushes publish, and where it came from (GitHub only).
    pub branch: Option<(String, BranchSource)>,
}

impl Plan {
    /// Finds the repository root and the publishing branch for the workflow in `dir` (which
    /// must exist).
    pub fn new(provider: CiProvider, dir: &Path, branch: Option<String>) -> anyhow::Result<Self> {
        let dir = std::fs::canonicalize(dir)
            .with_context(|| format!("cannot read the workflow directory `{}`", dir.display()))?;
        let toplevel = git(&dir, &["rev-parse", "--show-toplevel"]);
        let in_git = toplevel.is_some();
        let root = match toplevel {
            Some(t) => std::fs::canonicalize(&t)
                .with_context(|| format!("cannot read the git repository root `{t}`"))?,
            None => dir.clone(),
        };
        let relative = dir.strip_prefix(&root).with_context(|| {
            format!(
                "`{}` is not inside its git repository's root `{}`",
                dir.display(),
                root.display()
            )
        })?;
        let parts: Vec<String> = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let workflow_dir = if parts.is_empty() {
            ".".to_owned()
        } else {
            parts.join("/")
        };
        let branch = match provider {
            CiProvider::Gitlab => None,
            CiProvider::Github => Some(match branch {
                Some(b) => (b, BranchSource::Flag),
                None => default_branch(&root),
            }),
        };
        Ok(Self {
            provider,
            root,
            in_git,
            dir,
            workflow_dir,
            branch,
        })
    }

    /// The file's full path.
    pub fn path(&self) -> PathBuf {
        self.root.join(self.provider.file())
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let text = match self.provider {
            CiProvider::Github => GITHUB.replace("{{install}}", GITHUB_INSTALL.trim_end()),
            CiProvider::Gitlab => GITLAB.to_owned(),
        };
        let branch = self.branch.as_ref().map_or("", |(b, _)| b.as_str());
        // GitLab expands `$` in variables; `$$` is a literal one.
        let dir = match self.provider {
            CiProvider::Github => self.workflow_dir.clone(),
            CiProvider::Gitlab => self.workflow_dir.replace('$', "$$"),
        };
        text.replace("{{version}}", env!("CARGO_PKG_VERSION"))
            .replace("{{toolchain}}", RUST_TOOLCHAIN)
            .replace("{{target}}", TARGET)
            .replace("{{source}}", SOURCE)
            .replace("{{dir_yaml}}", &yaml_string(&dir))
            .replace("{{branch_yaml}}", &yaml_string(branch))
            .replace("{{branch}}", &format!("`{branch}`"))
    }

    /// Refuses an existing file unless `force`: checked before `init` writes anything.
    pub fn check_free(&self, force: bool) -> anyhow::Result<()> {
        let path = self.path();
        if path.exists() && !force {
            bail!(
                "refusing to overwrite `{}`\nhint: pass `--force` to replace it (`pipedreamer ci {} --force`), or move it away first",
                path.display(),
                self.provider.name()
            );
        }
        Ok(())
    }

    /// Writes the file (its directory created), replacing one only if `force`.
    pub fn write(&self, force: bool) -> anyhow::Result<PathBuf> {
        self.check_free(force)?;
        let path = self.path();
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create `{}`", parent.display()))?;
        }
        std::fs::write(&path, self.render())
            .with_context(|| format!("cannot write `{}`", path.display()))?;
        Ok(path)
    }

    /// What was written, for people (stderr) or as JSON fields.
    pub fn report(&self, path: &Path, format: OutputFormat) {
        match format {
            OutputFormat::Json => println!(
                "{}",
                serde_json::json!({
                    "provider": self.provider.name(),
                    "path": path,
                    "workflow_dir": self.workflow_dir,
                    "branch": self.branch.as_ref().map(|(b, _)| b),
                    "has_tests": has_tests(&self.dir),
                })
            ),
            OutputFormat::Text => self.report_text(path),
        }
    }

    fn report_text(&self, path: &Path) {
        output::success(&format!(
            "wrote `{}` for the workflow in `{}`",
            path.display(),
            self.workflow_dir
        ));
        match &self.branch {
            Some((b, source)) => eprintln!(
                "  publishes on pushes to `{b}` ({}) and on `v*` tags, to ghcr.io/<owner>",
                source.describe()
            ),
            None => eprintln!(
                "  publishes on pushes to the default branch and on `v*` tags, to the project's container registry"
            ),
        }
        if !has_tests(&self.dir) {
            output::hint(
                "the workflow has no tests/*.yaml yet, and the CI's test step fails without one: add a case (see `pipedreamer init`'s tests/greet.yaml)",
            );
        }
        if !self.in_git {
            output::hint(&format!(
                "`{}` is not in a git repository: the file went to the workflow directory; keep it at your repository's root",
                self.root.display()
            ));
        }
        if self
            .branch
            .as_ref()
            .is_some_and(|(_, s)| matches!(s, BranchSource::Current | BranchSource::Fallback))
        {
            output::hint(
                "another publishing branch: `pipedreamer ci github --branch NAME --force`",
            );
        }
    }
}

/// Whether `dir/tests` holds a test file (`pipedreamer test` exits 2 when there is none).
fn has_tests(dir: &Path) -> bool {
    std::fs::read_dir(dir.join("tests")).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.ends_with(".yaml") || name.ends_with(".yml")
        })
    })
}

/// `s` as a YAML double-quoted scalar (JSON's string syntax is YAML's).
fn yaml_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// The branch pushes to publish from: the remote's default branch, else the one checked out,
/// else `main`.
fn default_branch(root: &Path) -> (String, BranchSource) {
    if let Some(remote) = git(
        root,
        &[
            "symbolic-ref",
            "--quiet",
            "--short",
            "refs/remotes/origin/HEAD",
        ],
    ) && let Some((_, branch)) = remote.split_once('/')
    {
        return (branch.to_owned(), BranchSource::Remote);
    }
    if let Some(current) = git(root, &["symbolic-ref", "--quiet", "--short", "HEAD"]) {
        return (current, BranchSource::Current);
    }
    ("main".to_owned(), BranchSource::Fallback)
}

/// One line from a local git query in `dir`; `None` when git is missing, fails, or says nothing
/// (not a repository, no such ref). Local only: no network, so no timeout is needed.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    let line = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !line.is_empty()).then_some(line)
}

/// Runs the command.
pub fn run(args: CiArgs) -> anyhow::Result<()> {
    if !args.dir.join("workflow.yaml").is_file() {
        bail!(
            "`{}` has no workflow.yaml\nhint: pass the workflow directory: `pipedreamer ci {} path/to/workflow`",
            args.dir.display(),
            args.provider.name()
        );
    }
    if args.branch.is_some() && args.provider == CiProvider::Gitlab {
        bail!(
            "`--branch` is for GitHub only\nhint: GitLab publishes from `$CI_DEFAULT_BRANCH`, the project's default branch"
        );
    }
    let plan = Plan::new(args.provider, &args.dir, args.branch)?;
    let path = plan.write(args.force)?;
    plan.report(&path, args.output);
    Ok(())
}

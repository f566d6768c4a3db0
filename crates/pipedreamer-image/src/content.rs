//! What of a workflow directory goes into the image, and what is left out and why.
//!
//! Files are judged by what they are, not only by where they sit: secret files (`.secrets.*`,
//! `.env*`, `.npmrc`, private keys, and their editor backups), VCS data, dependencies, build
//! leftovers, a top-level `secrets` (it would land in `/app/secrets`, the engine's production
//! secrets directory), anything `.gitignore` or `.pipedreamerignore` matches, anything that is
//! not a regular file (a FIFO would block the build), and every link whose target is any of
//! these or lies outside the directory. Nothing is dropped silently: [`Content::excluded`] says
//! what was left out and why (`pipedreamer build -v` prints it).
//!
//! Ignore files are read only inside the workflow directory (not its parents, not the user's
//! global gitignore), so the image depends on the directory alone. [`Walker::judge`] is the one
//! place that decides whether a path is left out.
//!
//! `node_modules` ships file by file: exactly the files of the workflow's import graph (its
//! modules and the `package.json` files that resolve them: [`ModuleGraph::needs`]; resolved
//! once by `pipedreamer_spec::resolve`), whatever the ignore files say about `node_modules`
//! (they almost always list it), and nothing else from it; secret files stay out there too.

use crate::Error;
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use pipedreamer_spec::ModuleGraph;
use std::collections::HashMap;
use std::fmt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Ignore files honoured in every directory, strongest first.
const IGNORE_FILES: &[&str] = &[".pipedreamerignore", ".gitignore"];

/// A file to put under `/app`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowFile {
    /// Path relative to the workflow directory, `/`-separated.
    pub rel: String,
    /// Where to read it (symlinks resolved).
    pub source: PathBuf,
    /// Whether it is executable.
    pub executable: bool,
}

/// Something in the workflow directory that does not go into the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Excluded {
    /// Path relative to the workflow directory, `/`-separated; directories end in `/` (their
    /// contents are not listed one by one).
    pub path: String,
    /// Why.
    pub reason: ExclusionReason,
}

impl fmt::Display for Excluded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.path, self.reason)
    }
}

/// Why a path is left out of the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExclusionReason {
    /// A file that holds secrets, judged by its name.
    Secret(SecretKind),
    /// A top-level `secrets`: it would land in `/app/secrets`, where the engine reads its
    /// production secrets (mounted from a Kubernetes Secret).
    SecretsDir,
    /// `.git`, `.hg`, `.svn`.
    VersionControl,
    /// `node_modules`.
    Dependencies,
    /// A top-level `tests`: the workflow's test cases (`pipedreamer test`), for CI, never for
    /// production.
    TestCases,
    /// Build output and pipedreamer's own working files.
    BuildOutput,
    /// An editor's backup, swap or autosave file (`x~`, `.x.swp`, `#x#`).
    EditorBackup,
    /// Matched by an ignore file.
    Ignored {
        /// The ignore file, relative to the workflow directory.
        by: String,
    },
    /// Not a regular file, directory or symlink.
    NotRegular {
        /// What it is (`FIFO`, `socket`, `device`).
        kind: &'static str,
    },
    /// A symlink that leads out of the workflow directory.
    SymlinkOutside {
        /// Where it points.
        target: PathBuf,
    },
    /// A symlink to something that is itself left out.
    SymlinkToExcluded {
        /// The target, relative to the workflow directory.
        target: String,
        /// Why the target is left out.
        reason: Box<ExclusionReason>,
    },
    /// A symlink to a directory inside the workflow: its files ship under their real path.
    SymlinkToDirectory {
        /// The target, relative to the workflow directory.
        target: String,
    },
    /// A symlink whose target does not exist.
    BrokenSymlink,
    /// Another name (hard link) of a file left out as a secret.
    HardLinkToExcluded {
        /// The secret file's path.
        other: String,
    },
}

/// What kind of secret a file name says a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    /// `.secrets.yaml` and kin: the workflow's own secrets.
    WorkflowSecrets,
    /// `.env`, `.env.production`, ...
    Environment,
    /// `.npmrc`, `.yarnrc.yml`, `.pypirc`: registry tokens.
    RegistryCredentials,
    /// `.netrc`, `.git-credentials`, `.dockercfg`.
    Credentials,
    /// `*.pem`, `*.key`, `id_rsa`, ...
    PrivateKey,
}

impl fmt::Display for SecretKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SecretKind::WorkflowSecrets => "workflow secrets",
            SecretKind::Environment => "environment variables",
            SecretKind::RegistryCredentials => "package registry credentials",
            SecretKind::Credentials => "credentials",
            SecretKind::PrivateKey => "private key",
        })
    }
}

impl fmt::Display for ExclusionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExclusionReason::Secret(kind) => write!(f, "secret file: {kind}"),
            ExclusionReason::SecretsDir => f.write_str(
                "it would land in /app/secrets, the engine's production secrets directory",
            ),
            ExclusionReason::VersionControl => f.write_str("version control data"),
            ExclusionReason::Dependencies => f.write_str("dependencies"),
            ExclusionReason::TestCases => {
                f.write_str("workflow test cases (`pipedreamer test`), never shipped")
            }
            ExclusionReason::BuildOutput => f.write_str("build output"),
            ExclusionReason::EditorBackup => f.write_str("editor backup"),
            ExclusionReason::Ignored { by } => write!(f, "ignored by {by}"),
            ExclusionReason::NotRegular { kind } => write!(f, "not a regular file: a {kind}"),
            ExclusionReason::SymlinkOutside { target } => write!(
                f,
                "symlink to `{}`, outside the workflow directory",
                target.display()
            ),
            ExclusionReason::SymlinkToExcluded { target, reason } => {
                write!(f, "symlink to `{target}`, which is left out: {reason}")
            }
            ExclusionReason::SymlinkToDirectory { target } => write!(
                f,
                "symlink to the directory `{target}`, whose files ship under their own path"
            ),
            ExclusionReason::BrokenSymlink => f.write_str("symlink to nothing"),
            ExclusionReason::HardLinkToExcluded { other } => {
                write!(f, "hard link to `{other}`, which is left out")
            }
        }
    }
}

impl ExclusionReason {
    /// Whether this protects a secret (as opposed to tidying the image): what `build` mentions
    /// even without `-v`.
    pub fn is_secret(&self) -> bool {
        match self {
            ExclusionReason::Secret(_)
            | ExclusionReason::SecretsDir
            | ExclusionReason::SymlinkOutside { .. }
            | ExclusionReason::HardLinkToExcluded { .. } => true,
            ExclusionReason::SymlinkToExcluded { reason, .. } => {
                reason.is_secret() || **reason == ExclusionReason::VersionControl
            }
            _ => false,
        }
    }
}

/// A workflow directory judged: what ships and what does not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Content {
    /// The files that ship, sorted by path.
    pub files: Vec<WorkflowFile>,
    /// What is left out, sorted by path.
    pub excluded: Vec<Excluded>,
}

/// Judges `dir`, whose modules are `modules`: the files that belong in the image and what is
/// left out.
pub fn workflow_content(dir: &Path, modules: &ModuleGraph) -> Result<Content, Error> {
    let root = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
    let mut walker = Walker {
        root: root.clone(),
        modules,
        ignores: HashMap::new(),
        content: Content::default(),
        secret_inodes: HashMap::new(),
    };
    walker.walk(&root, &mut Vec::new())?;
    let Walker {
        mut content,
        secret_inodes,
        ..
    } = walker;
    // A hard link is the same file under another name: it is as secret as the first name.
    let mut shipped = Vec::with_capacity(content.files.len());
    for file in content.files {
        let meta = std::fs::metadata(&file.source).map_err(|e| Error::io(&file.source, e))?;
        match secret_inodes.get(&(meta.dev(), meta.ino())) {
            Some(other) => content.excluded.push(Excluded {
                path: file.rel,
                reason: ExclusionReason::HardLinkToExcluded {
                    other: other.clone(),
                },
            }),
            None => shipped.push(file),
        }
    }
    content.files = shipped;
    content.files.sort_by(|a, b| a.rel.cmp(&b.rel));
    content.excluded.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(content)
}

/// The files of `dir` that belong in the image, sorted (see [`workflow_content`]).
pub fn workflow_files(dir: &Path, modules: &ModuleGraph) -> Result<Vec<WorkflowFile>, Error> {
    Ok(workflow_content(dir, modules)?.files)
}

struct Walker<'g> {
    root: PathBuf,
    /// The import graph: what of `node_modules` ships.
    modules: &'g ModuleGraph,
    /// Each directory's ignore matchers (strongest first), read once.
    ignores: HashMap<PathBuf, Vec<(String, Gitignore)>>,
    content: Content,
    /// Files left out as secrets, by (device, inode), to catch their hard links.
    secret_inodes: HashMap<(u64, u64), String>,
}

impl Walker<'_> {
    /// Walks `dir` (whose path below the root is `rel`), in name order.
    fn walk(&mut self, dir: &Path, rel: &mut Vec<String>) -> Result<(), Error> {
        let mut entries = std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir, e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::io(dir, e))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            rel.push(entry.file_name().to_string_lossy().into_owned());
            let ft = entry.file_type().map_err(|e| Error::io(&path, e))?;
            self.entry(&path, ft, rel)?;
            rel.pop();
        }
        Ok(())
    }

    fn entry(&mut self, path: &Path, ft: std::fs::FileType, rel: &[String]) -> Result<(), Error> {
        let rel_str = rel.join("/");
        if let Some(reason) = self.judge(rel, ft.is_dir())? {
            if matches!(reason, ExclusionReason::Secret(_)) && ft.is_file() {
                let meta = std::fs::symlink_metadata(path).map_err(|e| Error::io(path, e))?;
                self.secret_inodes
                    .insert((meta.dev(), meta.ino()), rel_str.clone());
            }
            return self.exclude(rel_str, ft.is_dir(), reason);
        }
        if ft.is_dir() {
            return self.walk(path, &mut rel.to_vec());
        }
        if let Some(kind) = special_kind(ft) {
            return self.exclude(rel_str, false, ExclusionReason::NotRegular { kind });
        }
        let source = if ft.is_symlink() {
            match self.symlink_target(path)? {
                Ok(target) => target,
                Err(reason) => return self.exclude(rel_str, false, reason),
            }
        } else {
            path.to_path_buf()
        };
        let meta = std::fs::metadata(&source).map_err(|e| Error::io(&source, e))?;
        self.content.files.push(WorkflowFile {
            rel: rel_str,
            source,
            executable: meta.permissions().mode() & 0o111 != 0,
        });
        Ok(())
    }

    /// Where a link leads, when that may ship; else why not.
    fn symlink_target(&mut self, link: &Path) -> Result<Result<PathBuf, ExclusionReason>, Error> {
        let Ok(target) = link.canonicalize() else {
            return Ok(Err(ExclusionReason::BrokenSymlink));
        };
        let Ok(inside) = target.strip_prefix(&self.root) else {
            return Ok(Err(ExclusionReason::SymlinkOutside { target }));
        };
        let parts: Vec<String> = inside
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let target_rel = parts.join("/");
        let meta = std::fs::metadata(&target).map_err(|e| Error::io(&target, e))?;
        // The target is judged as if it were walked: every directory on its way, then itself.
        for depth in 1..=parts.len() {
            let is_dir = depth < parts.len() || meta.is_dir();
            if let Some(reason) = self.judge(&parts[..depth], is_dir)? {
                return Ok(Err(ExclusionReason::SymlinkToExcluded {
                    target: target_rel,
                    reason: Box::new(reason),
                }));
            }
        }
        if meta.is_dir() {
            return Ok(Err(ExclusionReason::SymlinkToDirectory {
                target: target_rel,
            }));
        }
        if let Some(kind) = special_kind(meta.file_type()) {
            return Ok(Err(ExclusionReason::SymlinkToExcluded {
                target: target_rel,
                reason: Box::new(ExclusionReason::NotRegular { kind }),
            }));
        }
        Ok(Ok(target))
    }

    /// Why `rel` (a path below the root whose parent directories passed) is left out, if it is:
    /// by its name first, then by the ignore files of its directories, the deepest first.
    fn judge(&mut self, rel: &[String], is_dir: bool) -> Result<Option<ExclusionReason>, Error> {
        let Some(name) = rel.last() else {
            return Ok(None);
        };
        let by_name = by_name(name, rel.len() == 1);
        if rel.iter().any(|c| c == "node_modules") {
            // Dependencies ship exactly as the import graph reaches them; ignore files (which
            // list `node_modules`) do not apply inside, the secret-file rules do.
            if let Some(reason) = by_name.filter(|r| *r != ExclusionReason::Dependencies) {
                return Ok(Some(reason));
            }
            let path = rel.join("/");
            let needed = match is_dir {
                true => self.modules.needs_under(&path),
                false => self.modules.needs(&path),
            };
            return Ok((!needed).then_some(ExclusionReason::Dependencies));
        }
        if let Some(reason) = by_name {
            return Ok(Some(reason));
        }
        let path = self.root.join(rel.join("/"));
        for depth in (0..rel.len()).rev() {
            let dir = self.root.join(rel[..depth].join("/"));
            for (by, matcher) in self.ignores_of(&dir)? {
                let m = matcher.matched(&path, is_dir);
                if m.is_whitelist() {
                    return Ok(None);
                }
                if m.is_ignore() {
                    return Ok(Some(ExclusionReason::Ignored { by: by.clone() }));
                }
            }
        }
        Ok(None)
    }

    fn ignores_of(&mut self, dir: &Path) -> Result<&[(String, Gitignore)], Error> {
        if !self.ignores.contains_key(dir) {
            let mut found = Vec::new();
            for name in IGNORE_FILES {
                let file = dir.join(name);
                // Only a regular file is read: a FIFO named `.gitignore` must not block us.
                if !std::fs::symlink_metadata(&file).is_ok_and(|m| m.is_file()) {
                    continue;
                }
                let mut builder = GitignoreBuilder::new(dir);
                if let Some(e) = builder.add(&file) {
                    return Err(Error::Content(format!("`{}`: {e}", file.display())));
                }
                let matcher = builder
                    .build()
                    .map_err(|e| Error::Content(format!("`{}`: {e}", file.display())))?;
                let by = file
                    .strip_prefix(&self.root)
                    .unwrap_or(&file)
                    .to_string_lossy()
                    .into_owned();
                found.push((by, matcher));
            }
            self.ignores.insert(dir.to_owned(), found);
        }
        Ok(&self.ignores[dir])
    }

    fn exclude(&mut self, rel: String, is_dir: bool, reason: ExclusionReason) -> Result<(), Error> {
        let path = if is_dir { format!("{rel}/") } else { rel };
        self.content.excluded.push(Excluded { path, reason });
        Ok(())
    }
}

/// What a non-regular file is, for anything but files, directories and symlinks.
fn special_kind(ft: std::fs::FileType) -> Option<&'static str> {
    if ft.is_fifo() {
        Some("FIFO")
    } else if ft.is_socket() {
        Some("socket")
    } else if ft.is_block_device() || ft.is_char_device() {
        Some("device")
    } else if ft.is_file() || ft.is_dir() || ft.is_symlink() {
        None
    } else {
        Some("special file")
    }
}

/// Why a file or directory is left out by its name alone. `top` is whether it sits directly in
/// the workflow directory (where `secrets` would become `/app/secrets`).
fn by_name(name: &str, top: bool) -> Option<ExclusionReason> {
    if top && name == "secrets" {
        return Some(ExclusionReason::SecretsDir);
    }
    // Only at the top: a node module may well live in `nodes/tests/`.
    if top && name == "tests" {
        return Some(ExclusionReason::TestCases);
    }
    match name {
        ".git" | ".hg" | ".svn" => return Some(ExclusionReason::VersionControl),
        "node_modules" => return Some(ExclusionReason::Dependencies),
        ".pipedreamer" | "target" | ".engine" | crate::dockerfile::DOCKERFILE => {
            return Some(ExclusionReason::BuildOutput);
        }
        _ => {}
    }
    if let Some(kind) = secret_kind(name) {
        return Some(ExclusionReason::Secret(kind));
    }
    let editor_leftover = name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swo")
        || (name.len() > 1 && name.starts_with('#') && name.ends_with('#'));
    editor_leftover.then_some(ExclusionReason::EditorBackup)
}

/// Suffixes editors and tools give copies of a file.
const BACKUP_SUFFIXES: &[&str] = &[
    "~", ".bak", ".backup", ".old", ".orig", ".save", ".swp", ".swo", ".tmp",
];
/// Suffixes of templates meant to be shared (`.secrets.yaml.example` ships, `init` makes one).
const TEMPLATE_SUFFIXES: &[&str] = &[".example", ".sample", ".template", ".dist"];

/// Extensions of modules: `nodes/secrets.ts` is code that reads `ctx.secrets`, not a secret.
const MODULE_EXTENSIONS: &[&str] = &["js", "mjs", "cjs", "ts", "mts", "cts"];

/// The kind of secret a file name says it holds, backups included.
fn secret_kind(name: &str) -> Option<SecretKind> {
    let mut name = name.to_ascii_lowercase();
    // Emacs autosaves `.env` as `#.env#`.
    if let Some(inner) = name.strip_prefix('#').and_then(|n| n.strip_suffix('#')) {
        name = inner.to_owned();
    }
    // `.secrets.yaml.bak`, `.secrets.yaml~`, vim's `..secrets.yaml.swp`: copies are as secret.
    while let Some(stem) = BACKUP_SUFFIXES
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .filter(|stem| !stem.is_empty())
    {
        name = stem.to_owned();
    }
    // No dot, no extension: a directory or file named `key` or `pem` (jose ships a `key/`
    // directory of modules) is not a `.key` file.
    let ext = name.rsplit_once('.').map_or("", |(_, ext)| ext);
    if TEMPLATE_SUFFIXES.iter().any(|s| name.ends_with(s))
        || (name.contains('.') && MODULE_EXTENSIONS.contains(&ext))
    {
        return None;
    }
    let dotless = name.trim_start_matches('.');
    let stem = dotless.split('.').next().unwrap_or_default();
    let kind = if matches!(stem, "secrets" | "secret") && name.contains('.') {
        SecretKind::WorkflowSecrets
    } else if (name.starts_with('.') && (dotless == "env" || dotless.starts_with("env.")))
        || name.ends_with(".env")
    {
        SecretKind::Environment
    } else if matches!(
        name.as_str(),
        ".npmrc" | ".yarnrc" | ".yarnrc.yml" | ".pypirc"
    ) {
        SecretKind::RegistryCredentials
    } else if matches!(
        name.as_str(),
        ".netrc" | "_netrc" | ".git-credentials" | ".dockercfg" | ".htpasswd"
    ) {
        SecretKind::Credentials
    } else if matches!(ext, "pem" | "key" | "p12" | "pfx" | "jks" | "keystore")
        || matches!(
            name.as_str(),
            "id_rsa" | "id_dsa" | "id_ecdsa" | "id_ed25519"
        )
    {
        SecretKind::PrivateKey
    } else {
        return None;
    };
    Some(kind)
}

/// A short digest of everything that ships in the image: it changes whenever a shipped file does,
/// which is what the Deployment's spec-hash annotation needs to roll pods out on a same-tag push.
pub fn content_digest(dir: &Path, modules: &ModuleGraph) -> Result<String, Error> {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    for file in workflow_files(dir, modules)? {
        let bytes = std::fs::read(&file.source).map_err(|e| Error::io(&file.source, e))?;
        hasher.update(file.rel.as_bytes());
        hasher.update([0, u8::from(file.executable)]);
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    Ok(hex::encode(hasher.finalize())[..16].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for f in files {
            let p = d.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, format!("content of {f}")).unwrap();
        }
        d
    }

    fn shipped(content: &Content) -> Vec<&str> {
        content.files.iter().map(|f| f.rel.as_str()).collect()
    }

    fn left_out(content: &Content) -> Vec<String> {
        content.excluded.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn secrets_vcs_and_ignored_files_stay_out() {
        let d = tree(&[
            "workflow.yaml",
            "nodes/a.ts",
            ".secrets.yaml",
            ".git/HEAD",
            "node_modules/x/i.js",
            "notes/draft.md",
            ".secrets.yaml.example",
        ]);
        std::fs::write(d.path().join(".pipedreamerignore"), "notes/\n").unwrap();
        let content = workflow_content(d.path(), &ModuleGraph::default()).unwrap();
        assert_eq!(
            shipped(&content),
            [
                ".pipedreamerignore",
                ".secrets.yaml.example",
                "nodes/a.ts",
                "workflow.yaml"
            ]
        );
        assert_eq!(
            left_out(&content),
            [
                ".git/ (version control data)",
                ".secrets.yaml (secret file: workflow secrets)",
                "node_modules/ (dependencies)",
                "notes/ (ignored by .pipedreamerignore)",
            ]
        );
    }

    #[test]
    fn top_level_test_cases_stay_out_but_a_nested_tests_directory_ships() {
        let d = tree(&["workflow.yaml", "tests/greet.yaml", "nodes/tests/x.ts"]);
        let content = workflow_content(d.path(), &ModuleGraph::default()).unwrap();
        assert_eq!(shipped(&content), ["nodes/tests/x.ts", "workflow.yaml"]);
        assert_eq!(
            left_out(&content),
            ["tests/ (workflow test cases (`pipedreamer test`), never shipped)"]
        );
        assert!(!content.excluded[0].reason.is_secret());
    }

    /// Regression (issue 10, item 7): all of these shipped.
    #[test]
    fn secret_files_are_left_out_by_what_they_are() {
        let d = tree(&[
            "workflow.yaml",
            "nodes/secrets.ts",
            "nodes/env.ts",
            "secrets/github",
            ".env",
            ".env.production",
            ".env.example",
            "deploy/prod.env",
            ".npmrc",
            "secrets.yaml",
            "config/secrets.yml",
            ".secrets.json",
            ".secrets.yaml.bak",
            ".secrets.yaml~",
            "..secrets.yaml.swp",
            "#.env#",
            "workflow.yaml~",
            "tls/server.key",
            "id_ed25519",
            "lib/key/export.js",
        ]);
        let content = workflow_content(d.path(), &ModuleGraph::default()).unwrap();
        assert_eq!(
            shipped(&content),
            [
                ".env.example",
                "lib/key/export.js",
                "nodes/env.ts",
                "nodes/secrets.ts",
                "workflow.yaml"
            ]
        );
        assert_eq!(
            left_out(&content),
            [
                "#.env# (secret file: environment variables)",
                "..secrets.yaml.swp (secret file: workflow secrets)",
                ".env (secret file: environment variables)",
                ".env.production (secret file: environment variables)",
                ".npmrc (secret file: package registry credentials)",
                ".secrets.json (secret file: workflow secrets)",
                ".secrets.yaml.bak (secret file: workflow secrets)",
                ".secrets.yaml~ (secret file: workflow secrets)",
                "config/secrets.yml (secret file: workflow secrets)",
                "deploy/prod.env (secret file: environment variables)",
                "id_ed25519 (secret file: private key)",
                "secrets.yaml (secret file: workflow secrets)",
                "secrets/ (it would land in /app/secrets, the engine's production secrets directory)",
                "tls/server.key (secret file: private key)",
                "workflow.yaml~ (editor backup)",
            ]
        );
        assert!(
            content
                .excluded
                .iter()
                .all(|e| e.reason.is_secret() || e.reason == ExclusionReason::EditorBackup)
        );
    }

    /// Regression (issue 10, item 7): links to `.secrets.yaml` or `.git/config` shipped their
    /// targets' content; a link out of the directory failed the whole build.
    #[test]
    fn symlinks_are_judged_by_their_targets() {
        let outside = tree(&["token"]);
        let d = tree(&[
            "workflow.yaml",
            ".secrets.yaml",
            ".git/config",
            "data/real.json",
            "local/cache.json",
        ]);
        std::fs::write(d.path().join(".gitignore"), "local/\n").unwrap();
        let link = |target: &Path, name: &str| {
            let p = d.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            symlink(target, p).unwrap();
        };
        link(Path::new(".secrets.yaml"), "config.yaml");
        link(Path::new("../.git/config"), "nodes/git.txt");
        link(&outside.path().join("token"), "token.txt");
        link(Path::new("/proc/self/environ"), "environ.txt");
        link(Path::new("local/cache.json"), "cache.json");
        link(Path::new("missing.json"), "broken.json");
        link(Path::new("data"), "data-alias");
        link(Path::new("data/real.json"), "alias.json");
        let content = workflow_content(d.path(), &ModuleGraph::default()).unwrap();
        assert_eq!(
            shipped(&content),
            [
                ".gitignore",
                "alias.json",
                "data/real.json",
                "workflow.yaml"
            ]
        );
        let alias = &content.files[1];
        assert_eq!(
            alias.source,
            d.path().canonicalize().unwrap().join("data/real.json")
        );
        let out = left_out(&content);
        let outside_token = outside.path().canonicalize().unwrap().join("token");
        assert_eq!(
            out,
            [
                ".git/ (version control data)".to_owned(),
                ".secrets.yaml (secret file: workflow secrets)".to_owned(),
                "broken.json (symlink to nothing)".to_owned(),
                "cache.json (symlink to `local/cache.json`, which is left out: ignored by .gitignore)".to_owned(),
                "config.yaml (symlink to `.secrets.yaml`, which is left out: secret file: workflow secrets)".to_owned(),
                "data-alias (symlink to the directory `data`, whose files ship under their own path)".to_owned(),
                format!("environ.txt (symlink to `{}`, outside the workflow directory)", Path::new("/proc/self/environ").canonicalize().unwrap().display()),
                "local/ (ignored by .gitignore)".to_owned(),
                "nodes/git.txt (symlink to `.git/config`, which is left out: version control data)".to_owned(),
                format!("token.txt (symlink to `{}`, outside the workflow directory)", outside_token.display()),
            ]
        );
    }

    /// `.gitignore` files apply in their own directory and below; `.pipedreamerignore` is
    /// stronger, so it can put back what git ignores.
    #[test]
    fn gitignore_and_pipedreamerignore_are_both_honoured() {
        let d = tree(&[
            "workflow.yaml",
            "app.log",
            "dist/bundle.js",
            "nodes/a.ts",
            "nodes/scratch.ts",
        ]);
        std::fs::write(d.path().join(".gitignore"), "*.log\ndist/\n").unwrap();
        std::fs::write(d.path().join("nodes/.gitignore"), "scratch.ts\n").unwrap();
        std::fs::write(d.path().join(".pipedreamerignore"), "!dist/\n").unwrap();
        let content = workflow_content(d.path(), &ModuleGraph::default()).unwrap();
        assert_eq!(
            shipped(&content),
            [
                ".gitignore",
                ".pipedreamerignore",
                "dist/bundle.js",
                "nodes/.gitignore",
                "nodes/a.ts",
                "workflow.yaml"
            ]
        );
        assert_eq!(
            left_out(&content),
            [
                "app.log (ignored by .gitignore)",
                "nodes/scratch.ts (ignored by nodes/.gitignore)"
            ]
        );
    }

    /// Regression (issue 10, item 12): a FIFO in the workflow directory hung `build` (reading it
    /// blocks until a writer comes). Links to one are left out too.
    #[test]
    fn fifos_are_left_out_without_blocking() {
        let d = tree(&["workflow.yaml"]);
        let made = std::process::Command::new("mkfifo")
            .arg(d.path().join("pipe"))
            .status()
            .unwrap();
        assert!(made.success());
        symlink("pipe", d.path().join("pipe-link")).unwrap();
        let dir = d.path().to_owned();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(
                workflow_content(&dir, &ModuleGraph::default()).and_then(|c| {
                    content_digest(&dir, &ModuleGraph::default())?;
                    Ok(c)
                }),
            );
        });
        let content = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("judging a directory with a FIFO must not block")
            .unwrap();
        assert_eq!(shipped(&content), ["workflow.yaml"]);
        assert_eq!(
            left_out(&content),
            [
                "pipe (not a regular file: a FIFO)",
                "pipe-link (symlink to `pipe`, which is left out: not a regular file: a FIFO)"
            ]
        );
    }

    #[test]
    fn hard_links_to_secrets_are_secrets() {
        let d = tree(&["workflow.yaml", ".secrets.yaml"]);
        std::fs::hard_link(d.path().join(".secrets.yaml"), d.path().join("config.yaml")).unwrap();
        let content = workflow_content(d.path(), &ModuleGraph::default()).unwrap();
        assert_eq!(shipped(&content), ["workflow.yaml"]);
        assert_eq!(
            left_out(&content)[1],
            "config.yaml (hard link to `.secrets.yaml`, which is left out)"
        );
    }

    #[test]
    fn content_digest_follows_shipped_files_only() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("workflow.yaml"), "a").unwrap();
        let first = content_digest(d.path(), &ModuleGraph::default()).unwrap();
        std::fs::write(d.path().join(".secrets.yaml"), "token: x").unwrap();
        std::fs::write(d.path().join(".env"), "TOKEN=x").unwrap();
        assert_eq!(
            content_digest(d.path(), &ModuleGraph::default()).unwrap(),
            first,
            "secrets do not ship"
        );
        std::fs::write(d.path().join("workflow.yaml"), "b").unwrap();
        assert_ne!(
            content_digest(d.path(), &ModuleGraph::default()).unwrap(),
            first
        );
        assert_eq!(first.len(), 16);
    }

    /// `node_modules` ships exactly the files of the import graph, although `.gitignore` lists
    /// it; the rest of it stays out, and so do secret files inside it.
    #[test]
    fn node_modules_ships_the_import_graph_only() {
        let d = tree(&[
            "workflow.yaml",
            "nodes/a.ts",
            ".gitignore",
            "node_modules/zod/package.json",
            "node_modules/zod/index.js",
            "node_modules/zod/unused.js",
            "node_modules/zod/.env",
            "node_modules/other/index.js",
        ]);
        std::fs::write(d.path().join(".gitignore"), "node_modules\n").unwrap();
        let mut modules = ModuleGraph::default();
        modules
            .manifests
            .insert("node_modules/zod/package.json".into());
        for path in [
            "nodes/a.ts",
            "node_modules/zod/index.js",
            "node_modules/zod/.env",
        ] {
            modules.files.insert(
                path.to_owned(),
                pipedreamer_spec::ModuleFile {
                    kind: pipedreamer_spec::ModuleKind::EsModule,
                    source: String::new(),
                    imports: Vec::new(),
                },
            );
        }
        let content = workflow_content(d.path(), &modules).unwrap();
        let shipped: Vec<&str> = content.files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(
            shipped,
            [
                ".gitignore",
                "node_modules/zod/index.js",
                "node_modules/zod/package.json",
                "nodes/a.ts",
                "workflow.yaml"
            ]
        );
        let excluded: Vec<String> = content.excluded.iter().map(ToString::to_string).collect();
        assert_eq!(
            excluded,
            [
                "node_modules/other/ (dependencies)",
                "node_modules/zod/.env (secret file: environment variables)",
                "node_modules/zod/unused.js (dependencies)",
            ]
        );
        // Without a graph nothing of it ships.
        let bare = workflow_content(d.path(), &ModuleGraph::default()).unwrap();
        assert!(
            bare.files
                .iter()
                .all(|f| !f.rel.starts_with("node_modules"))
        );
    }
}

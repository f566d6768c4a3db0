//! Configuration layering (defaults < file < environment < flags), unknown keys, masking.

use pipedreamer_server::{Config, ConfigError, Overrides};
use std::path::PathBuf;
use std::time::Duration;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn write(dir: &tempfile::TempDir, text: &str) -> PathBuf {
    let path = dir.path().join("server.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Flags that name only the configuration file `path`.
fn with_file(path: PathBuf) -> Overrides {
    Overrides {
        config: Some(path),
        ..Overrides::default()
    }
}

/// The message of the error that loading `path` gives, with only `HOME` in the environment.
fn load_error(path: PathBuf) -> String {
    Config::load_from(&with_file(path), &env(&[("HOME", "/h")]))
        .unwrap_err()
        .to_string()
}

const FILE: &str = "\
data_dir: /srv/pd
database: postgres://pd:file-password@db:5432/pd
public_url: https://deploy.example.com/
host: 0.0.0.0
port: 8000
auth:
  jwt_secret: file-secret-file-secret-file-secret-123
  token_ttl: 12h
builds:
  concurrency: 4
  timeouts:
    fetch: 30s
    rollout: 10m
  lease: 1m
registry: registry.example.com
insecure_registry: true
git_token: ghp_file-git-token
local:
  port_range: 21000-21099
  bind: 10.0.0.5
";

#[test]
fn file_then_environment_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, FILE);
    let flags = with_file(path.clone());
    let c = Config::load_from(&flags, &env(&[("HOME", "/home/u")])).unwrap();
    assert_eq!(c.data_dir, PathBuf::from("/srv/pd"));
    assert_eq!(c.public_url, "https://deploy.example.com");
    assert_eq!(c.listen_addr().to_string(), "0.0.0.0:8000");
    assert!(c.is_postgres());
    assert_eq!(c.auth.token_ttl, Duration::from_secs(12 * 3600));
    assert_eq!(c.builds.concurrency, 4);
    assert_eq!(c.builds.timeouts.fetch, Duration::from_secs(30));
    assert_eq!(
        c.builds.timeouts.validate,
        pipedreamer_pipeline::PhaseTimeouts::default().validate,
        "unset keys keep the pipeline's defaults"
    );
    assert_eq!(c.builds.timeouts.rollout, Duration::from_secs(600));
    assert_eq!(c.builds.lease, Duration::from_secs(60));
    assert_eq!(c.registry.as_deref(), Some("registry.example.com"));
    assert!(c.insecure_registry);
    assert_eq!(c.git_token.as_ref().unwrap().0, "ghp_file-git-token");
    assert_eq!(c.local.port_range, 21000..=21099);
    assert_eq!(c.local.bind.to_string(), "10.0.0.5");

    // The environment over the file.
    let e = env(&[
        ("HOME", "/home/u"),
        ("PIPEDREAMER_SERVER_PORT", "9000"),
        ("PIPEDREAMER_SERVER_BUILDS__TIMEOUTS__FETCH", "45s"),
        ("PIPEDREAMER_SERVER_AUTH__TOKEN_TTL", "1h"),
        (
            "PIPEDREAMER_DATABASE_URL",
            "postgres://pd:env-password@db2/pd",
        ),
    ]);
    let c = Config::load_from(&flags, &e).unwrap();
    assert_eq!(c.port, 9000);
    assert_eq!(c.builds.timeouts.fetch, Duration::from_secs(45));
    assert_eq!(c.auth.token_ttl, Duration::from_secs(3600));
    assert_eq!(c.database, "postgres://pd:env-password@db2/pd");
    assert_eq!(
        c.host.to_string(),
        "0.0.0.0",
        "keys the environment does not set stay"
    );

    // Flags over both.
    let flags = Overrides {
        config: Some(path),
        port: Some(9100),
        host: Some("127.0.0.2".into()),
        data_dir: Some("/flag/dir".into()),
        database: Some("sqlite:///flag/dir/x.db".into()),
        public_url: Some("http://flag.example".into()),
    };
    let c = Config::load_from(&flags, &e).unwrap();
    assert_eq!(c.listen_addr().to_string(), "127.0.0.2:9100");
    assert_eq!(c.data_dir, PathBuf::from("/flag/dir"));
    assert_eq!(c.database, "sqlite:///flag/dir/x.db");
    assert!(!c.is_postgres());
    assert_eq!(c.public_url, "http://flag.example");
    assert_eq!(c.builds.timeouts.fetch, Duration::from_secs(45));
}

#[test]
fn defaults_derive_from_data_dir_and_listen_address() {
    let flags = Overrides {
        data_dir: Some("/d".into()),
        port: Some(7171),
        ..Overrides::default()
    };
    let c = Config::load_from(&flags, &[]).unwrap();
    assert_eq!(c.database, "sqlite:///d/pipedreamer.db");
    assert_eq!(c.public_url, "http://127.0.0.1:7171");
    assert_eq!(c.builds.lease, Duration::from_secs(30));
    assert_eq!(c.local.bind.to_string(), "127.0.0.1");
}

#[test]
fn unknown_keys_name_the_key_the_place_and_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "port: 1\nbuilds:\n  concurency: 3\n");
    let flags = with_file(path.clone());
    let err = Config::load_from(&flags, &env(&[("HOME", "/h")])).unwrap_err();
    assert!(matches!(err, ConfigError::UnknownKey { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "unknown configuration key `builds.concurency` in `{}` line 3\nhint: did you mean `builds.concurrency`?",
            path.display()
        )
    );
    let path = write(&dir, "colour: blue\n");
    let msg = load_error(path);
    assert!(
        msg.contains("`colour`") && msg.contains("known keys: data_dir"),
        "{msg}"
    );

    let msg = Config::load_from(
        &Overrides::default(),
        &env(&[("HOME", "/h"), ("PIPEDREAMER_SERVER_PROT", "1")]),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        msg,
        "unknown configuration key `prot` in environment variable `PIPEDREAMER_SERVER_PROT`\nhint: did you mean `PIPEDREAMER_SERVER_PORT`?"
    );
}

#[test]
fn bad_values_say_where_and_how() {
    let dir = tempfile::tempdir().unwrap();
    for (text, needle) in [
        ("port: http\n", "`port` in"),
        (
            "auth:\n  token_ttl: forever\n",
            "`forever` is not a duration",
        ),
        ("local:\n  port_range: 3-1\n", "is not a port range"),
        ("host: example.com\n", "is not an IP address"),
        ("builds: 3\n", "`builds` in"),
        (
            "database: mysql://x\n",
            "must be a `sqlite:` or `postgres://` URL",
        ),
        ("auth:\n  jwt_secret: short\n", "at least 32 characters"),
        ("port: [1\n", "line"),
    ] {
        let path = write(&dir, text);
        let msg = load_error(path);
        assert!(msg.contains(needle), "{text:?}: {msg}");
    }
    // A secret's value never appears in its error.
    let path = write(&dir, "auth:\n  jwt_secret: tooshort-but-secret\n");
    let msg = load_error(path);
    assert!(!msg.contains("tooshort-but-secret"), "{msg}");
    let msg = Config::load_from(
        &Overrides::default(),
        &env(&[
            ("HOME", "/h"),
            ("PIPEDREAMER_SERVER_DATABASE", "mysql://u:pw-123@h/db"),
        ]),
    )
    .unwrap_err()
    .to_string();
    assert!(!msg.contains("pw-123"), "{msg}");
}

#[test]
fn print_config_masks_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, FILE);
    let flags = with_file(path);
    let c = Config::load_from(&flags, &env(&[("HOME", "/h")])).unwrap();
    let text = c.print_config();
    assert!(!text.contains("file-secret"), "{text}");
    assert!(!text.contains("file-password"), "{text}");
    assert!(!text.contains("ghp_file-git-token"), "{text}");
    assert!(text.contains("git_token: \"***\""), "{text}");
    assert!(text.contains("insecure_registry: true"), "{text}");
    assert!(
        text.contains("database: \"postgres://pd:***@db:5432/pd\""),
        "{text}"
    );
    assert!(text.contains("  jwt_secret: \"***\""), "{text}");
    assert!(text.contains("    fetch: \"30s\""), "{text}");
    assert!(text.contains("  port_range: \"21000-21099\""), "{text}");
    // The printed configuration is itself a valid configuration file (minus masked values).
    let reread = text
        .replace("\"***\"", "\"0123456789abcdef0123456789abcdef\"")
        .replace("pd:***@", "pd:x@");
    let path = write(&dir, &reread);
    let again = Config::load_from(&with_file(path), &[]).unwrap();
    assert_eq!(again.builds.timeouts, c.builds.timeouts);
    assert_eq!(again.local.port_range, c.local.port_range);
    assert_eq!(again.public_url, c.public_url);
    // Debug never shows the secret either.
    assert!(!format!("{c:?}").contains("file-secret"));
    assert!(!format!("{c:?}").contains("ghp_file"));
}

#[test]
fn postgres_needs_a_configured_secret_and_sqlite_generates_one() {
    let flags = Overrides {
        database: Some("postgres://u@h/db".into()),
        data_dir: Some("/nonexistent".into()),
        ..Overrides::default()
    };
    let c = Config::load_from(&flags, &[]).unwrap();
    let err = c.jwt_secret().unwrap_err();
    assert!(matches!(err, ConfigError::SecretRequired));
    assert!(
        err.to_string()
            .contains("hint: set PIPEDREAMER_SERVER_AUTH__JWT_SECRET")
    );

    let dir = tempfile::tempdir().unwrap();
    let flags = Overrides {
        data_dir: Some(dir.path().join("data")),
        ..Overrides::default()
    };
    let c = Config::load_from(&flags, &[]).unwrap();
    let first = c.jwt_secret().unwrap();
    assert_eq!(first.len(), 64);
    assert_eq!(
        c.jwt_secret().unwrap(),
        first,
        "generated once, then read back"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("data/jwt-secret"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn runs_retention_and_report_url() {
    let home = env(&[("HOME", "/h")]);
    let c = Config::load_from(&Overrides::default(), &home).unwrap();
    assert_eq!(c.runs.retention, Duration::from_secs(14 * 24 * 3600));
    assert_eq!(c.runs.report_url, None);
    // A local engine reports to the server's own address (loopback for 0.0.0.0).
    assert_eq!(pipedreamer_server::report_url(&c), "http://127.0.0.1:7070");
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "host: 0.0.0.0\nport: 8000\nruns:\n  retention: 3d\n  report_url: http://pipedreamer.pd.svc:7070/\n",
    );
    let c = Config::load_from(&with_file(path.clone()), &home).unwrap();
    assert_eq!(c.runs.retention, Duration::from_secs(3 * 24 * 3600));
    assert_eq!(
        pipedreamer_server::report_url(&c),
        "http://pipedreamer.pd.svc:7070"
    );
    let c = Config::load_from(
        &with_file(path),
        &env(&[("HOME", "/h"), ("PIPEDREAMER_SERVER_RUNS__REPORT_URL", "")]),
    )
    .unwrap();
    assert_eq!(pipedreamer_server::report_url(&c), "http://127.0.0.1:8000");
    let text = c.print_config();
    assert!(text.contains("runs:\n  retention: \"3days\""), "{text}");

    for (yaml, needle) in [
        ("runs:\n  retention: forever\n", "`runs.retention` in"),
        ("runs:\n  retention: 0s\n", "must be longer than zero"),
        ("runs:\n  report_url: ftp://x\n", "`runs.report_url` in"),
        ("runs:\n  retension: 3d\n", "did you mean `runs.retention`?"),
    ] {
        let err = load_error(write(&dir, yaml));
        assert!(err.contains(needle), "{yaml}: {err}");
    }
}

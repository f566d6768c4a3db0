//! Which kind of repository a URL names, and how it is shown without credentials.

use std::path::PathBuf;

use crate::GitError;

/// Where the repository is.
pub(crate) enum Source {
    /// A repository on this machine, opened directly.
    Local(PathBuf),
    /// A smart-HTTP(S) remote; the URL carries no credentials.
    Http(String),
}

const SCHEME_HINT: &str =
    "use `https://host/owner/repo.git`, `file:///absolute/path` or an absolute path";

pub(crate) fn classify(url: &str) -> Result<Source, GitError> {
    let unsupported = |reason: String, hint: &'static str| GitError::UnsupportedUrl {
        url: redact_url(url),
        reason,
        hint,
    };
    if url.starts_with('/') {
        return Ok(Source::Local(PathBuf::from(url)));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(unsupported(
            "it is neither an absolute path nor a `scheme://` URL".into(),
            SCHEME_HINT,
        ));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "file" => {
            // `file:///abs` (empty host) or `file://localhost/abs`.
            let path = rest.strip_prefix("localhost").unwrap_or(rest);
            if !path.starts_with('/') {
                return Err(unsupported(
                    "a `file://` URL needs an absolute path (`file:///abs/path`)".into(),
                    SCHEME_HINT,
                ));
            }
            Ok(Source::Local(PathBuf::from(percent_decode(path))))
        }
        "https" => {
            let host = host_of(rest).map_err(|reason| unsupported(reason, HOST_HINT))?;
            if host.is_empty() {
                return Err(unsupported("the URL has no host".into(), SCHEME_HINT));
            }
            Ok(Source::Http(strip_credentials(url)))
        }
        "http" => {
            let host = host_of(rest).map_err(|reason| unsupported(reason, HOST_HINT))?;
            if is_loopback(&host) {
                Ok(Source::Http(strip_credentials(url)))
            } else {
                Err(unsupported(
                    format!(
                        "plain `http://` is only used for loopback hosts, not `{host}` (a token would travel unencrypted)"
                    ),
                    "use the `https://` URL of the repository",
                ))
            }
        }
        other => Err(unsupported(
            format!(
                "scheme `{other}` is not supported (no ssh or git protocol: the server fetches over HTTPS)"
            ),
            SCHEME_HINT,
        )),
    }
}

/// Checks that `url` is a repository URL [`crate::fetch`] would fetch from (an absolute path,
/// `file://`, `https://`, or `http://` to a loopback host), without touching the network: the
/// same rules as a fetch, so a deployment's `repo` can be refused when it is set rather than
/// when its first build runs.
pub fn check_url(url: &str) -> Result<(), GitError> {
    classify(url).map(drop)
}

const HOST_HINT: &str =
    "name the server by its host name, e.g. `https://git.example.com/owner/repo.git`";

/// The host of the authority after `scheme://` (lower-case, without user info and port). An
/// IPv6 literal is only taken as `[::1]` (loopback over `http://`), whole: a bracket anywhere
/// else makes a URL that git clients and URL parsers read differently, or refuse.
fn host_of(rest: &str) -> Result<String, String> {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(after) = host_port.strip_prefix("[::1]")
        && (after.is_empty() || after.starts_with(':'))
        && !after.contains(['[', ']'])
    {
        return Ok("::1".into());
    }
    if host_port.contains(['[', ']']) {
        return Err(
            "an IPv6 address (in `[…]`) is only supported as `http://[::1]`; the host part is not a plain host name".into(),
        );
    }
    Ok(host_port
        .split(':')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase())
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `url` with user info removed (credentials go through the credential callback only).
fn strip_credentials(url: &str) -> String {
    match split_userinfo(url) {
        Some((prefix, _, rest)) => format!("{prefix}{rest}"),
        None => url.to_owned(),
    }
}

/// `(scheme://, userinfo, host/path…)` when the URL has user info.
fn split_userinfo(url: &str) -> Option<(&str, &str, &str)> {
    let scheme_end = url.find("://")? + 3;
    let after = &url[scheme_end..];
    let authority_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let at = after[..authority_end].rfind('@')?;
    Some((&url[..scheme_end], &after[..at], &after[at + 1..]))
}

/// `url` for errors and logs: `https://user:pass@host/x` becomes `https://***@host/x`.
pub fn redact_url(url: &str) -> String {
    match split_userinfo(url) {
        Some((prefix, _, rest)) => format!("{prefix}***@{rest}"),
        None => url.to_owned(),
    }
}

fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_user_info_only() {
        assert_eq!(
            redact_url("https://user:pass@github.com/o/r.git"),
            "https://***@github.com/o/r.git"
        );
        assert_eq!(
            redact_url("https://github.com/o/r.git"),
            "https://github.com/o/r.git"
        );
        // An `@` in the path is not user info.
        assert_eq!(redact_url("https://h/o/r@x"), "https://h/o/r@x");
    }

    #[test]
    fn http_only_on_loopback() {
        assert!(matches!(
            classify("http://127.0.0.1:9/r.git"),
            Ok(Source::Http(_))
        ));
        assert!(matches!(
            classify("http://[::1]:9/r.git"),
            Ok(Source::Http(_))
        ));
        assert!(matches!(
            classify("http://localhost/r.git"),
            Ok(Source::Http(_))
        ));
        assert!(classify("http://example.com/r.git").is_err());
        assert!(classify("http://127.0.0.1.example.com/r.git").is_err());
    }

    #[test]
    fn brackets_only_as_the_whole_loopback_ipv6_host() {
        // URL parsers refuse these (Python's `urlsplit`: "Invalid IPv6 URL"): no record of one.
        for bad in [
            "http://[::1/r.git",
            "http://[localhost]/r.git",
            "http://[127.0.0.1]/r.git",
            "http://[::1]x/r.git",
            "https://[/r.git",
            "https://[2001:db8::1]/r.git",
            "https://host]/r.git",
        ] {
            assert!(classify(bad).is_err(), "{bad}");
        }
        assert!(classify("http://[::1]/r.git").is_ok());
        assert!(classify("https:///r.git").is_err());
        // A bracket in the path is just a character.
        assert!(classify("https://h/r[1].git").is_ok());
    }

    #[test]
    fn credentials_never_reach_the_transport_url() {
        let Ok(Source::Http(u)) = classify("https://x:secret@h/r.git") else {
            panic!("https must be accepted")
        };
        assert_eq!(u, "https://h/r.git");
    }

    #[test]
    fn file_urls_decode_to_paths() {
        let Ok(Source::Local(p)) = classify("file:///tmp/a%20b") else {
            panic!("file URL must be accepted")
        };
        assert_eq!(p, PathBuf::from("/tmp/a b"));
        assert!(classify("file://relative/x").is_err());
        assert!(classify("ssh://git@h/r.git").is_err());
        assert!(classify("git@github.com:o/r.git").is_err());
    }
}

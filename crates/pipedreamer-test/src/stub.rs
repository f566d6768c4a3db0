//! A case's fetch stubs as the sandbox's [`FetchResponder`]: the first stub whose method and URL
//! glob match answers; a fetch none matches is refused (node code sees a `TypeError`, like a
//! network failure) and recorded, so the case fails with the URL even when node code catches
//! the error. Nothing reaches the network.

use crate::model::Stub;
use pipedreamer_sandbox::fetch::{FetchError, FetchResponder, StubRequest, StubResponse};
use std::sync::Mutex;

/// One fetch a case made: what was asked and which stub answered (by index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The method.
    pub method: String,
    /// The URL.
    pub url: String,
    /// The stub that answered; `None` when none matched.
    pub stub: Option<usize>,
}

/// A case's stubs, and the fetches made against them.
#[derive(Debug)]
pub struct Stubs {
    stubs: Vec<Stub>,
    calls: Mutex<Vec<Call>>,
}

impl Stubs {
    /// The responder for `stubs`.
    pub fn new(stubs: Vec<Stub>) -> Self {
        Self {
            stubs,
            calls: Mutex::new(Vec::new()),
        }
    }

    /// Every fetch so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

impl FetchResponder for Stubs {
    fn respond(&self, request: &StubRequest<'_>) -> Result<StubResponse, FetchError> {
        let url = request.url.as_str();
        let found = self.stubs.iter().position(|s| {
            s.method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(request.method))
                && glob_match(&s.url, url)
        });
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(Call {
                method: request.method.to_owned(),
                url: url.to_owned(),
                stub: found,
            });
        }
        let Some(i) = found else {
            return Err(FetchError::Network(format!(
                "no fetch stub matches {} {url} (add one under the case's `fetch`)",
                request.method
            )));
        };
        let stub = &self.stubs[i];
        Ok(StubResponse {
            status: stub.status,
            headers: stub.headers.clone(),
            body: stub.body.clone(),
        })
    }
}

/// Whether `text` matches `pattern`: `**` stands for any characters, `*` for any characters
/// but `/` (one path segment, or the rest of one), everything else for itself (so `?` and `.`
/// in URLs are literal).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    // Plain recursion: patterns are short, written by the test's author.
    fn go(p: &[u8], t: &[u8]) -> bool {
        match p {
            [] => t.is_empty(),
            [b'*', b'*', rest @ ..] => (0..=t.len()).any(|i| go(rest, &t[i..])),
            [b'*', rest @ ..] => {
                let segment = t.iter().position(|&c| c == b'/').unwrap_or(t.len());
                (0..=segment).any(|i| go(rest, &t[i..]))
            }
            [c, rest @ ..] => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    go(p, t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_stay_in_a_segment_and_double_stars_do_not() {
        let p = "https://api.github.com/users/*";
        assert!(glob_match(p, "https://api.github.com/users/ada"));
        assert!(glob_match(p, "https://api.github.com/users/"));
        assert!(!glob_match(p, "https://api.github.com/users/ada/repos"));
        assert!(!glob_match(p, "https://api.github.com/orgs/ada"));
        assert!(glob_match(
            "https://api.github.com/**",
            "https://api.github.com/a/b?c=d"
        ));
        assert!(glob_match(
            "https://*.example.com/x",
            "https://eu.example.com/x"
        ));
        assert!(!glob_match(
            "https://*.example.com/x",
            "https://example.com/x"
        ));
        // `?` and `.` are literal: URLs are full of them.
        assert!(glob_match("https://a.b/p?q=1", "https://a.b/p?q=1"));
        assert!(!glob_match("https://a.b/p?q=1", "https://a.b/pxq=1"));
        assert!(!glob_match("https://a.b/p", "https://a.b/p/"));
        assert!(glob_match("**", ""));
    }

    #[test]
    fn first_matching_stub_answers_and_misses_are_recorded() {
        let stub = |method: Option<&str>, url: &str, status| Stub {
            pos: Default::default(),
            method: method.map(str::to_owned),
            url: url.into(),
            status,
            headers: vec![],
            body: b"x".to_vec(),
        };
        let stubs = Stubs::new(vec![
            stub(Some("POST"), "https://a.test/*", 201),
            stub(None, "https://a.test/*", 200),
        ]);
        let url = "https://a.test/x".parse().unwrap();
        let ask = |method| {
            stubs.respond(&StubRequest {
                method,
                url: &url,
                headers: &[],
                body: None,
            })
        };
        assert_eq!(ask("GET").unwrap().status, 200);
        assert_eq!(ask("post").unwrap().status, 201);
        let other = "https://b.test/x".parse().unwrap();
        let err = stubs
            .respond(&StubRequest {
                method: "GET",
                url: &other,
                headers: &[],
                body: None,
            })
            .unwrap_err();
        assert!(err.to_string().contains("GET https://b.test/x"), "{err}");
        let calls = stubs.calls();
        assert_eq!(
            calls.iter().map(|c| c.stub).collect::<Vec<_>>(),
            [Some(1), Some(0), None]
        );
    }
}

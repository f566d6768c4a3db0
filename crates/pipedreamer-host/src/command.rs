//! Running `podman`/`docker` with a deadline: every call is killed when it overruns, and a
//! failure carries the command's stderr.

use crate::{HostError, Result};
use std::ffi::OsString;
use std::process::Stdio;
use std::time::Duration;

/// A container engine command line (`podman [--runtime …] <verb> …`).
#[derive(Debug, Clone)]
pub(crate) struct EngineCommand {
    program: &'static str,
    args: Vec<OsString>,
    /// `podman run`, `podman rm`: what errors name. Never the whole line, so no argument value
    /// (an environment variable, a path) ever reaches a message.
    label: String,
}

impl EngineCommand {
    /// `program <global…> <verb>`; arguments follow with [`EngineCommand::arg`].
    pub(crate) fn new(program: &'static str, global: &[OsString], verb: &str) -> Self {
        let mut args = global.to_vec();
        args.push(verb.into());
        Self {
            program,
            args,
            label: format!("{program} {verb}"),
        }
    }

    pub(crate) fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub(crate) fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Runs to completion within `timeout`; stdout on success.
    pub(crate) async fn output(&self, timeout: Duration) -> Result<String> {
        let (ok, stdout, stderr) = self.run(timeout).await?;
        if ok {
            Ok(stdout)
        } else {
            Err(HostError::Command {
                command: self.label.clone(),
                stderr: tail(stderr.trim(), 2000),
            })
        }
    }

    /// Runs in the background on the current tokio runtime (for `Drop`, which cannot wait);
    /// `None` (nothing runs) outside a runtime.
    pub(crate) fn spawn_detached(self, timeout: Duration) -> Option<tokio::task::JoinHandle<()>> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        Some(runtime.spawn(async move {
            if let Err(e) = self.output(timeout).await {
                tracing::warn!("{e}");
            }
        }))
    }

    /// Runs to completion within `timeout`: (succeeded, stdout, stderr).
    pub(crate) async fn run(&self, timeout: Duration) -> Result<(bool, String, String)> {
        let child = tokio::process::Command::new(self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Dropping the future on timeout kills the process.
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| HostError::Spawn {
                command: self.label.clone(),
                source,
            })?;
        match tokio::time::timeout(timeout, child.wait_with_output()).await {
            Ok(Ok(out)) => Ok((
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )),
            Ok(Err(source)) => Err(HostError::Spawn {
                command: self.label.clone(),
                source,
            }),
            Err(_) => Err(HostError::Timeout {
                command: self.label.clone(),
                after: timeout,
            }),
        }
    }
}

/// The last `max` bytes of `text` (at a character boundary): the end of a long stderr or log
/// is where the cause is.
pub(crate) fn tail(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_command_that_overruns_is_killed_and_named() {
        let cmd = EngineCommand::new_for_test("sleep", "5");
        let started = std::time::Instant::now();
        let err = cmd.output(Duration::from_millis(200)).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(matches!(err, HostError::Timeout { .. }), "{err}");
        assert_eq!(err.to_string(), "`sleep 5` did not finish within 0.2s");
    }

    #[tokio::test]
    async fn a_failing_command_reports_its_stderr_but_not_its_arguments() {
        let cmd = EngineCommand::new_for_test("sh", "-c")
            .arg("echo 'no such image' >&2; echo SECRET_VALUE >/dev/null; exit 3");
        let err = cmd.output(Duration::from_secs(5)).await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains("no such image"), "{text}");
        assert!(!text.contains("SECRET_VALUE"), "{text}");
    }

    #[test]
    fn tail_keeps_the_end() {
        assert_eq!(tail("abcdef", 10), "abcdef");
        assert_eq!(tail("abcdef", 3), "…def");
        assert_eq!(tail("aéé", 3), "…é");
    }

    impl EngineCommand {
        fn new_for_test(program: &'static str, first: &str) -> Self {
            Self::new(program, &[], first)
        }
    }
}

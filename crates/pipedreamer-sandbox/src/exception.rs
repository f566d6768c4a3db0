//! JavaScript exceptions as messages for users.

use rquickjs::{CaughtError, Ctx};

/// A readable message for a QuickJS error, taking the pending exception when there is one.
pub(crate) fn describe_exception(ctx: &Ctx<'_>, e: rquickjs::Error) -> String {
    if !e.is_exception() {
        return e.to_string();
    }
    match CaughtError::from_error(ctx, e) {
        CaughtError::Exception(ex) => {
            let message = ex.message().unwrap_or_default();
            let name: String = ex.get("name").unwrap_or_else(|_| "Error".into());
            let frame = ex.stack().and_then(|s| {
                s.lines()
                    .map(str::trim)
                    .find(|l| l.starts_with("at "))
                    .map(str::to_owned)
            });
            let hint = if message.contains("is read-only") || message.contains("not extensible") {
                " (builtins, globals, `ctx`, `ctx.secrets` and the functions and classes of \
                 modules without state, which runs share, are frozen so that runs cannot affect \
                 each other; keep state in your own objects or module variables)"
            } else {
                ""
            };
            match frame {
                Some(f) => format!("{name}: {message} ({f}){hint}"),
                None => format!("{name}: {message}{hint}"),
            }
        }
        CaughtError::Value(v) => {
            let shown = ctx
                .json_stringify(v.clone())
                .ok()
                .flatten()
                .and_then(|s| s.to_string().ok())
                .unwrap_or_else(|| format!("{v:?}"));
            format!("uncaught {shown}")
        }
        CaughtError::Error(e) => e.to_string(),
    }
}

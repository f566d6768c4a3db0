//! Natives behind `url.js` (`URL`, `URLSearchParams`): the WHATWG URL parser, setters and
//! `application/x-www-form-urlencoded` of the `url` and `form_urlencoded` crates, so node code
//! gets the same parser (IDNA included) the host's fetch uses.
//!
//! A URL crosses as its eleven components (see [`components`]); `url.js` keeps them on the
//! `URL` object and asks again after every setter.

use rquickjs::function::Opt;
use rquickjs::{Ctx, Exception, Function, Object, Result};
use url::{Url, quirks};

/// Adds the URL natives to `natives`.
pub(crate) fn install<'js>(ctx: &Ctx<'js>, natives: &Object<'js>) -> Result<()> {
    natives.set("urlParse", Function::new(ctx.clone(), parse)?)?;
    natives.set("urlSet", Function::new(ctx.clone(), set)?)?;
    natives.set("urlParamsParse", Function::new(ctx.clone(), params_parse)?)?;
    natives.set(
        "urlParamsSerialize",
        Function::new(ctx.clone(), params_serialize)?,
    )?;
    Ok(())
}

/// `[href, origin, protocol, username, password, host, hostname, port, pathname, search,
/// hash]`, the order `url.js` reads them in.
fn components(url: &Url) -> Vec<String> {
    [
        quirks::href(url),
        &origin(url),
        quirks::protocol(url),
        quirks::username(url),
        quirks::password(url),
        quirks::host(url),
        quirks::hostname(url),
        quirks::port(url),
        quirks::pathname(url),
        quirks::search(url),
        quirks::hash(url),
    ]
    .map(str::to_owned)
    .to_vec()
}

/// The URL standard's origin: as the `url` crate has it, except that a `blob:` URL has its
/// inner URL's origin only when that is http(s) (the crate takes any scheme's).
fn origin(url: &Url) -> String {
    if url.scheme() == "blob" {
        let inner = Url::parse(url.path()).ok();
        if !inner.is_some_and(|u| matches!(u.scheme(), "http" | "https")) {
            return "null".to_owned();
        }
    }
    quirks::origin(url)
}

/// Parses `input` against `base`; `None` when either fails (`url.js` throws the TypeError).
fn parse(input: String, base: Opt<Option<String>>) -> Option<Vec<String>> {
    let url = match base.0.flatten() {
        Some(base) => Url::parse(&base).ok()?.join(&input).ok()?,
        None => Url::parse(&input).ok()?,
    };
    Some(components(&url))
}

/// Applies the setter `part` (`href`, `protocol`, …, or `query`, which takes an already
/// encoded query or `null`) to `href`; returns the new components. A setter the standard
/// ignores leaves the URL as it was; only `href` fails (with a TypeError).
fn set<'js>(
    ctx: Ctx<'js>,
    href: String,
    part: String,
    value: Option<String>,
) -> Result<Vec<String>> {
    let mut url = Url::parse(&href)
        .map_err(|e| Exception::throw_type(&ctx, &format!("Invalid URL `{href}`: {e}")))?;
    let v = value.as_deref().unwrap_or("");
    // `Err(())` from a quirks setter is the standard's "leave the URL as it is".
    let _unchanged: std::result::Result<(), ()> = match part.as_str() {
        "href" => {
            quirks::set_href(&mut url, v)
                .map_err(|e| Exception::throw_type(&ctx, &format!("Invalid URL `{v}`: {e}")))?;
            Ok(())
        }
        "protocol" => quirks::set_protocol(&mut url, v),
        "username" => quirks::set_username(&mut url, v),
        "password" => quirks::set_password(&mut url, v),
        "host" => quirks::set_host(&mut url, v),
        "hostname" => quirks::set_hostname(&mut url, v),
        "port" => quirks::set_port(&mut url, v),
        "pathname" => {
            quirks::set_pathname(&mut url, v);
            Ok(())
        }
        "search" => {
            quirks::set_search(&mut url, v);
            Ok(())
        }
        "hash" => {
            quirks::set_hash(&mut url, v);
            Ok(())
        }
        "query" => {
            url.set_query(value.as_deref());
            Ok(())
        }
        other => {
            return Err(Exception::throw_type(
                &ctx,
                &format!("no URL component `{other}`"),
            ));
        }
    };
    Ok(components(&url))
}

/// Parses an `application/x-www-form-urlencoded` string into `[name, value, name, value, …]`.
fn params_parse(query: String) -> Vec<String> {
    form_urlencoded::parse(query.as_bytes())
        .flat_map(|(k, v)| [k.into_owned(), v.into_owned()])
        .collect()
}

/// Serializes `[name, value, …]` as `application/x-www-form-urlencoded`.
fn params_serialize(pairs: Vec<String>) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for pair in pairs.chunks(2) {
        if let [k, v] = pair {
            out.append_pair(k, v);
        }
    }
    out.finish()
}

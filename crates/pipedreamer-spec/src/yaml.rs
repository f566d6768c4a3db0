//! A positioned view of YAML documents on top of `saphyr`'s marked nodes.
//!
//! serde-based YAML crates lose positions after the first error; we need every value's line and
//! column to report all problems at once, so the model is built by hand from this view.

use crate::diagnostic::Pos;
use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

/// A YAML syntax error with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Where the parser stopped.
    pub pos: Pos,
    /// What the parser said.
    pub message: String,
}

/// Parses the first document of `text`; an empty text is an empty mapping's absence (`None`).
pub fn parse(text: &str) -> Result<Option<MarkedYaml<'_>>, SyntaxError> {
    let mut docs = MarkedYaml::load_from_str(text).map_err(|e| SyntaxError {
        pos: Pos::new(e.marker().line(), e.marker().col() + 1),
        message: e.info().to_owned(),
    })?;
    if docs.is_empty() {
        return Ok(None);
    }
    Ok(Some(docs.swap_remove(0)))
}

/// The position where a node starts.
pub fn pos(node: &MarkedYaml<'_>) -> Pos {
    Pos::new(node.span.start.line(), node.span.start.col() + 1)
}

/// A human word for the node's type, for "expected X, found Y" messages.
pub fn kind(node: &MarkedYaml<'_>) -> &'static str {
    match &node.data {
        YamlData::Value(Scalar::Null) => "null",
        YamlData::Value(Scalar::Boolean(_)) => "a boolean",
        YamlData::Value(Scalar::Integer(_)) => "a number",
        YamlData::Value(Scalar::FloatingPoint(_)) => "a number",
        YamlData::Value(Scalar::String(_)) => "a string",
        YamlData::Sequence(_) => "a list",
        YamlData::Mapping(_) => "a mapping",
        YamlData::Tagged(..) => "a tagged value",
        YamlData::Alias(_) => "an alias",
        YamlData::Representation(..) | YamlData::BadValue => "an unreadable value",
    }
}

/// The string value of a scalar string node.
pub fn as_str<'a>(node: &'a MarkedYaml<'_>) -> Option<&'a str> {
    match &node.data {
        YamlData::Value(Scalar::String(s)) => Some(s.as_ref()),
        _ => None,
    }
}

/// A mapping's entries as (key text, key position, value); non-string keys are rendered as text.
pub fn entries<'a, 'i>(node: &'a MarkedYaml<'i>) -> Option<Vec<(String, Pos, &'a MarkedYaml<'i>)>> {
    match &node.data {
        YamlData::Mapping(map) => Some(
            map.iter()
                .map(|(k, v)| {
                    (
                        scalar_text(k).unwrap_or_else(|| kind(k).to_owned()),
                        pos(k),
                        v,
                    )
                })
                .collect(),
        ),
        _ => None,
    }
}

/// A sequence's items.
pub fn items<'a, 'i>(node: &'a MarkedYaml<'i>) -> Option<&'a [MarkedYaml<'i>]> {
    match &node.data {
        YamlData::Sequence(seq) => Some(seq.as_slice()),
        _ => None,
    }
}

/// The text of any scalar (numbers and booleans included).
pub fn scalar_text(node: &MarkedYaml<'_>) -> Option<String> {
    match &node.data {
        YamlData::Value(Scalar::String(s)) => Some(s.to_string()),
        YamlData::Value(Scalar::Integer(i)) => Some(i.to_string()),
        YamlData::Value(Scalar::FloatingPoint(f)) => Some(f.to_string()),
        YamlData::Value(Scalar::Boolean(b)) => Some(b.to_string()),
        YamlData::Value(Scalar::Null) => Some("null".into()),
        _ => None,
    }
}

/// Converts a YAML node to JSON. Used for secrets files, where values are free-form.
pub fn to_json(node: &MarkedYaml<'_>) -> serde_json::Value {
    use serde_json::Value;
    match &node.data {
        YamlData::Value(Scalar::Null) => Value::Null,
        YamlData::Value(Scalar::Boolean(b)) => Value::Bool(*b),
        YamlData::Value(Scalar::Integer(i)) => Value::from(*i),
        YamlData::Value(Scalar::FloatingPoint(f)) => {
            serde_json::Number::from_f64(f.into_inner()).map_or(Value::Null, Value::Number)
        }
        YamlData::Value(Scalar::String(s)) => Value::String(s.to_string()),
        YamlData::Sequence(seq) => Value::Array(seq.iter().map(to_json).collect()),
        YamlData::Mapping(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (scalar_text(k).unwrap_or_default(), to_json(v)))
                .collect(),
        ),
        YamlData::Tagged(_, inner) => to_json(inner),
        _ => Value::Null,
    }
}

/// Parses a YAML text into JSON, for secrets and other free-form documents.
pub fn text_to_json(text: &str) -> Result<serde_json::Value, SyntaxError> {
    Ok(parse(text)?
        .as_ref()
        .map_or(serde_json::Value::Null, to_json))
}

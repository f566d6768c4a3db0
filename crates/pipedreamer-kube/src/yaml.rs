//! JSON values to YAML text, through saphyr's emitter (the parser the spec crate already uses), so
//! printed manifests keep the field order of the Kubernetes types.

use saphyr::{Mapping, Scalar, Yaml, YamlEmitter};
use serde_json::Value;
use std::borrow::Cow;

fn to_yaml(value: &Value) -> Yaml<'_> {
    match value {
        Value::Null => Yaml::Value(Scalar::Null),
        Value::Bool(b) => Yaml::Value(Scalar::Boolean(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Yaml::Value(Scalar::Integer(i)),
            None => Yaml::Value(Scalar::FloatingPoint(n.as_f64().unwrap_or_default().into())),
        },
        Value::String(s) => Yaml::Value(Scalar::String(Cow::Borrowed(s))),
        Value::Array(items) => Yaml::Sequence(items.iter().map(to_yaml).collect()),
        Value::Object(map) => {
            let mut mapping = Mapping::new();
            for (k, v) in map {
                mapping.insert(Yaml::Value(Scalar::String(Cow::Borrowed(k))), to_yaml(v));
            }
            Yaml::Mapping(mapping)
        }
    }
}

/// Several objects as one multi-document YAML stream (`---` between them): what `kubectl apply
/// -f -` reads.
pub fn stream(objects: &[Value]) -> String {
    objects
        .iter()
        .map(to_string)
        .collect::<Vec<_>>()
        .join("---\n")
}

/// Several objects as a `v1/List` in pretty JSON, the JSON form `kubectl apply -f` accepts.
pub fn json_list(objects: Vec<Value>) -> String {
    let list = serde_json::json!({ "apiVersion": "v1", "kind": "List", "items": objects });
    serde_json::to_string_pretty(&list).unwrap_or_default()
}

/// One YAML document (no `---` header), ending in a newline.
pub fn to_string(value: &Value) -> String {
    let yaml = to_yaml(value);
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = YamlEmitter::new(&mut out).dump(&yaml);
    let body = out.strip_prefix("---\n").unwrap_or(&out);
    format!("{}\n", body.trim_end())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn round_trips_through_a_yaml_parser() {
        let value = json!({
            "apiVersion": "v1",
            "metadata": {"labels": {"app.kubernetes.io/version": "1.0", "n": "123", "b": "true", "e": ""}},
            "spec": {"ports": [{"port": 8080, "name": "http"}], "empty": [], "obj": {}, "f": 1.5, "null": null},
            "args": ["--data-binary", "{\"trigger\": \"daily\"}", "content-type: application/json", "- dash", "#hash"],
        });
        let text = super::to_string(&value);
        let docs = <saphyr::Yaml as saphyr::LoadableYamlNode>::load_from_str(&text).unwrap();
        let back = yaml_to_json(&docs[0]);
        assert_eq!(back, value, "{text}");
    }

    fn yaml_to_json(y: &saphyr::Yaml) -> serde_json::Value {
        use saphyr::{Scalar, Yaml};
        match y {
            Yaml::Value(Scalar::Null) => json!(null),
            Yaml::Value(Scalar::Boolean(b)) => json!(b),
            Yaml::Value(Scalar::Integer(i)) => json!(i),
            Yaml::Value(Scalar::FloatingPoint(f)) => json!(f.into_inner()),
            Yaml::Value(Scalar::String(s)) => json!(s),
            Yaml::Sequence(s) => s.iter().map(yaml_to_json).collect(),
            Yaml::Mapping(m) => m
                .iter()
                .map(|(k, v)| (k.as_str().unwrap().to_owned(), yaml_to_json(v)))
                .collect::<serde_json::Map<_, _>>()
                .into(),
            other => panic!("unexpected {other:?}"),
        }
    }
}

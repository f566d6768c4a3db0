"""Validates custom resources against a CRD's OpenAPI v3 schema, strictly.

Usage: validate_crd.py CRD.yaml OBJECTS.json

OBJECTS.json holds one object or a v1 List; objects of other kinds than the CRD's are skipped.
Prints `Kind/name is valid` per valid object and each violation with its path, and exits 1 when
any object is invalid. Strict like the API server's `fieldValidation=Strict`: every object schema
with properties (and no `x-kubernetes-preserve-unknown-fields`) refuses unknown fields. Needs
PyYAML and jsonschema (the project venv has both).
"""

import ipaddress
import json
import sys

import jsonschema
import yaml


def strict(schema):
    """Returns `schema` with `additionalProperties: false` on every object schema that lists
    properties, recursively (combinators such as `oneOf: [{required: [x]}]` have no `type` and
    stay as they are)."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items()}
    if (
        out.get("type") == "object"
        and "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def main():
    crd_path, objects_path = sys.argv[1], sys.argv[2]
    with open(crd_path) as f:
        crd = yaml.safe_load(f)
    kind = crd["spec"]["names"]["kind"]
    versions = {
        f'{crd["spec"]["group"]}/{v["name"]}': strict(v["schema"]["openAPIV3Schema"])
        for v in crd["spec"]["versions"]
    }
    with open(objects_path) as f:
        data = json.load(f)
    objects = data["items"] if data.get("kind") == "List" else [data]
    formats = jsonschema.FormatChecker()

    @formats.checks("cidr", raises=ValueError)
    def is_cidr(value):
        ipaddress.ip_network(value, strict=True)
        return True

    failed = False
    seen = 0
    for obj in objects:
        if obj.get("kind") != kind:
            continue
        seen += 1
        name = f'{kind}/{obj.get("metadata", {}).get("name")}'
        schema = versions.get(obj.get("apiVersion"))
        if schema is None:
            print(f"{name}: apiVersion {obj.get('apiVersion')!r} is not served by the CRD")
            failed = True
            continue
        validator = jsonschema.Draft7Validator(schema, format_checker=formats)
        errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
        for error in errors:
            path = "/".join(str(p) for p in error.absolute_path)
            print(f"{name}: {path}: {error.message}")
        if errors:
            failed = True
        else:
            print(f"{name} is valid")
    if seen == 0:
        print(f"no {kind} in {objects_path}")
        failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

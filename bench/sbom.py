#!/usr/bin/env python3
"""SBOM overhead: `pipedreamer build` of examples/hello on a warm layer cache, with the SPDX SBOM
(the default) and with `--no-sbom`, interleaved rounds, medians; the overhead is the median of
the paired differences (each pair ran back to back, so machine noise hits both). Target: < 20 ms.
Also checks that two builds give the same SBOM bytes and image digest. Writes
bench/sbom-results.json.

    bench/sbom.py [--debug] [--rounds N]

Uses the release binaries (target/x86_64-unknown-linux-gnu/release) unless `--debug`; the
engine must be one built with its build.rs (it embeds the crate list the SBOM reads)."""
import argparse
import hashlib
import json
import os
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKFLOW = os.path.join(ROOT, "examples/hello")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--debug", action="store_true", help="use the debug binaries")
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args()
    profile = "debug" if args.debug else "release"
    bins = os.path.join(ROOT, "target/x86_64-unknown-linux-gnu", profile)
    cli, engine = os.path.join(bins, "pipedreamer"), os.path.join(bins, "pipedreamer-engine")
    for b in (cli, engine):
        if not os.path.isfile(b):
            raise SystemExit(f"{b} is missing: cargo build {'' if args.debug else '--release '}-p pipedreamer -p pipedreamer-engine")
    tmp = tempfile.mkdtemp()
    env = {**os.environ, "XDG_CACHE_HOME": os.path.join(tmp, "cache"), "NO_COLOR": "1",
           "PIPEDREAMER_ENGINE": engine, "SOURCE_DATE_EPOCH": "1700000000"}

    def build(*extra):
        t0 = time.perf_counter()
        out = subprocess.run([cli, "build", WORKFLOW, "-o", "json", "--oci-layout", os.path.join(tmp, "layout"), *extra],
                             env=env, capture_output=True, text=True)
        ms = (time.perf_counter() - t0) * 1000
        if out.returncode != 0:
            raise SystemExit(f"build failed: {out.stderr}")
        return ms, json.loads(out.stdout)

    _, first = build()  # warms the engine layer cache
    if not first.get("sbom"):
        raise SystemExit(f"{cli} wrote no SBOM: is it built from a tree with the SBOM code?")
    sbom_path = first["sbom"]["path"]
    with open(sbom_path, "rb") as f:
        doc = json.loads(f.read())
    _, second = build()
    reproducible = first["digest"] == second["digest"] and first["sbom"]["digest"] == second["sbom"]["digest"]

    with_sbom, without, diffs = [], [], []
    for i in range(args.rounds):
        # Alternate which goes first, so neither always follows the other.
        if i % 2:
            a, _ = build()
            b, _ = build("--no-sbom")
        else:
            b, _ = build("--no-sbom")
            a, _ = build()
        with_sbom.append(a)
        without.append(b)
        diffs.append(a - b)
    res = {
        "binaries": profile,
        "rounds": args.rounds,
        "warm_build_ms_with_sbom": round(statistics.median(with_sbom), 1),
        "warm_build_ms_no_sbom": round(statistics.median(without), 1),
        "sbom_overhead_ms": round(statistics.median(diffs), 1),
        "sbom_bytes": os.path.getsize(sbom_path),
        "sbom_packages": len(doc["packages"]),
        "reproducible": reproducible,
        "sbom_digest": "sha256:" + hashlib.sha256(open(sbom_path, "rb").read()).hexdigest(),
    }
    with open(os.path.join(ROOT, "bench/sbom-results.json"), "w") as f:
        json.dump(res, f, indent=2)
    print(json.dumps(res, indent=2))
    print(f"SBOM overhead on a warm build ({profile}): {res['sbom_overhead_ms']} ms (target < 20 ms), "
          f"{res['sbom_packages']} packages, reproducible: {reproducible}")


if __name__ == "__main__":
    main()

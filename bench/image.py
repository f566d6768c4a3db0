#!/usr/bin/env python3
"""Image benchmark: native build time (cold and warm cache), image size, and the `--dockerfile`
path through `podman build` on the same workflow. Appends to bench/results.md and writes
bench/image-results.json. Targets: warm build < 200 ms, compressed image < 10 MB, >= 10x faster
than the podman build path."""
import json
import os
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REL = os.path.join(ROOT, "target/x86_64-unknown-linux-gnu/release")
CLI = os.path.join(REL, "pipedreamer")
WORKFLOW = os.path.join(ROOT, "examples/hello")


def build(cache, *extra):
    env = {**os.environ, "XDG_CACHE_HOME": cache, "NO_COLOR": "1"}
    t0 = time.perf_counter()
    out = subprocess.run([CLI, "build", WORKFLOW, "-o", "json", *extra], env=env, capture_output=True, text=True, check=True)
    return (time.perf_counter() - t0) * 1000, json.loads(out.stdout)


def main():
    tmp = tempfile.mkdtemp()
    cold = []
    for i in range(3):
        ms, info = build(os.path.join(tmp, f"cold{i}"), "--oci-layout", os.path.join(tmp, f"layout-cold{i}"))
        cold.append(ms)
    warm_cache = os.path.join(tmp, "warm")
    build(warm_cache, "--oci-layout", os.path.join(tmp, "layout-warm"))
    warm = [build(warm_cache, "--oci-layout", os.path.join(tmp, "layout-warm"))[0] for _ in range(10)]
    digests = {build(os.path.join(tmp, f"repro{i}"), "--oci-layout", os.path.join(tmp, f"repro{i}"))[1]["digest"] for i in range(2)}

    podman = []
    for i in range(2):
        t0 = time.perf_counter()
        subprocess.run([CLI, "build", WORKFLOW, "--dockerfile", "--tag", "pd-bench:dockerfile"], check=True,
                       capture_output=True, env={**os.environ, "NO_COLOR": "1"})
        podman.append((time.perf_counter() - t0) * 1000)
    podman_size = int(subprocess.run(["podman", "image", "inspect", "--format", "{{.Size}}", "pd-bench:dockerfile"],
                                     capture_output=True, text=True, check=True).stdout.strip())
    subprocess.run(["podman", "rmi", "-f", "pd-bench:dockerfile"], capture_output=True)

    res = {
        "cold_build_ms": round(statistics.median(cold)),
        "warm_build_ms": round(statistics.median(warm)),
        "compressed_bytes": info["size_bytes"],
        "uncompressed_bytes": info["uncompressed_bytes"],
        "reproducible": len(digests) == 1,
        "podman_build_ms": round(statistics.median(podman)),
        "podman_image_bytes": podman_size,
    }
    res["speedup_warm_vs_podman"] = round(res["podman_build_ms"] / max(res["warm_build_ms"], 1), 1)
    res["speedup_cold_vs_podman"] = round(res["podman_build_ms"] / max(res["cold_build_ms"], 1), 1)
    with open(os.path.join(ROOT, "bench/image-results.json"), "w") as f:
        json.dump(res, f, indent=2)
    mb = lambda b: f"{b / 1e6:.1f} MB"
    lines = [
        "",
        "# Image benchmark",
        "",
        "`pipedreamer build examples/hello` with release binaries (median of 3 cold, 10 warm, 2 podman runs).",
        "",
        "| measure | result | target |",
        "|---|---|---|",
        f"| cold build (empty layer cache) | {res['cold_build_ms']} ms | |",
        f"| warm build | {res['warm_build_ms']} ms | < 200 ms |",
        f"| image size compressed / uncompressed | {mb(res['compressed_bytes'])} / {mb(res['uncompressed_bytes'])} | < 10 MB compressed |",
        f"| same digest on rebuild | {res['reproducible']} | yes |",
        f"| `--dockerfile` via `podman build` | {res['podman_build_ms']} ms, {mb(res['podman_image_bytes'])} | |",
        f"| speed-up vs podman build | {res['speedup_warm_vs_podman']}x warm, {res['speedup_cold_vs_podman']}x cold | >= 10x |",
        "",
    ]
    with open(os.path.join(ROOT, "bench/results.md"), "a") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

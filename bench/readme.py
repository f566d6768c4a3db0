"""Copies the tables of bench/results.md into README.md between the bench markers."""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECTIONS = [
    ("# Engine benchmark", "Engine (`examples/hello`, 3 TypeScript nodes; wrk shares the 2 cores):"),
    ("# Image benchmark", "Images (`pipedreamer build examples/hello`):"),
    ("# NATS and webhook benchmark",
     "Queue triggers and webhooks (1-node workflow; nats-server, engine and load generator share the cores):"),
    ("# Control plane benchmark",
     "Control plane (`pipedreamer server`, SQLite, `local` target under podman and gVisor; `bench/control_plane.py`):"),
    ("# Proxy benchmark",
     "Public URLs on a single host (Caddy with `tls internal` in front of a `local` deployment; `bench/proxy.py`):"),
    ("# Dashboard benchmark",
     "Dashboard (`bench/dashboard.py`, measured in headless Chromium):"),
    ("# Run records benchmark",
     "Run records (`bench/runs.py`: reporting on vs off; `bench/ingest.py`: the control plane's ingestion):"),
    ("# Shipping benchmark",
     "Workflow tests and SBOM (`bench/workflow_test.py`, `bench/sbom.py`):"),
]


def table(results, heading):
    start = results.index("| measure", results.index(heading))
    end = results.find("\n\n", start)
    return results[start:end if end != -1 else len(results)].strip()


def main():
    results = open(os.path.join(ROOT, "bench/results.md")).read()
    readme_path = os.path.join(ROOT, "README.md")
    readme = open(readme_path).read()
    body = "\n\n".join(f"{intro}\n\n{table(results, heading)}" for heading, intro in SECTIONS if heading in results)
    begin, end = readme.index("<!-- bench:start -->"), readme.index("<!-- bench:end -->")
    readme = readme[:begin] + "<!-- bench:start -->\n" + body + "\n" + readme[end:]
    open(readme_path, "w").write(readme)


if __name__ == "__main__":
    main()

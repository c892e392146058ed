#!/usr/bin/env python3
"""Deploy timings on the lab: first converge of examples/web-ap-nodrbd.yml (fenced) on
freshly booted nodes and no-op re-runs. Failover times: bench/bench_drill.py.

Run as root from the repository: python bench/bench_deploy.py [--backend container|podman|docker]
(container: systemd-nspawn nodes; podman, docker: that engine's containers in the same lab
networks; docker without DOCKER_HOST: a Podman Docker API service started for the run).
Uses its own state dir (the base image cache is shared); removes its lab at the end.
Goals: first converge <= 75 s, no-op re-run <= 10 s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from halab.lab.engine import podman_service

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "web-ap-nodrbd.yml"
VIP_URL = "http://198.18.50.100/"


def halab(*args: str) -> float:
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "halab", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"halab {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return time.monotonic() - start


def serving(node: str) -> bool:
    try:
        with urllib.request.urlopen(VIP_URL, timeout=1) as reply:
            return reply.status == 200 and node in reply.read().decode()
    except OSError:
        return False


def wait_serving(node: str, timeout: float) -> float:
    start = time.monotonic()
    while not serving(node):
        if time.monotonic() - start > timeout:
            raise SystemExit(f"{VIP_URL} never served from {node}")
        time.sleep(0.1)
    return time.monotonic() - start


def measure(backend: str) -> tuple[float, float, float, float]:
    """lab up, first converge, two no-op re-runs; the lab is removed at the end."""
    try:
        up = halab("lab", "up", str(EXAMPLE), "--backend", backend)
        first = halab("deploy", str(EXAMPLE))
        wait_serving("web1", 60)
        return up, first, halab("deploy", str(EXAMPLE)), halab("deploy", str(EXAMPLE))
    finally:
        subprocess.run([sys.executable, "-m", "halab", "lab", "down", "webnd"], check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("container", "podman", "docker"), default="container")
    backend = parser.parse_args().backend
    with tempfile.TemporaryDirectory(prefix="halab-bench-") as tmp, ExitStack() as stack:
        os.environ["HALAB_STATE_DIR"] = str(Path(tmp) / "state")
        os.environ.setdefault("HALAB_LAB_BMC_PASSWORD", "lab-bmc-bench")  # the examples' fence devices
        if backend == "docker" and "DOCKER_HOST" not in os.environ:
            os.environ["DOCKER_HOST"] = stack.enter_context(podman_service(Path(tmp))).docker_host
        up, first, noop, noop_again = measure(backend)
    print(f"backend: {backend}")
    print(f"lab up (2 nodes, cached image): {up:.1f} s")
    print(f"first converge: {first:.1f} s (goal <= 75 s)")
    print(f"no-op re-run, right after the first converge: {noop:.1f} s (goal <= 10 s)")
    print(f"no-op re-run, once more: {noop_again:.1f} s")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Timings of the docker Molecule scenario through Podman's Docker API: the node image
export (cold: the image removed first; then cached), and `molecule create / converge /
idempotence / verify / destroy -s docker` step by step.

Run as root from the repository: python bench/bench_molecule_docker.py
Starts its own `podman system service` and stops it at the end; the scenario's destroy
removes its containers and network, also after a failed step.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from halab.lab.containerimage import image_tag, release_tag
from halab.lab.engine import podman_service

ROOT = Path(__file__).resolve().parents[1]
STEPS = ("create", "converge", "idempotence", "verify")


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    start = time.monotonic()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return time.monotonic() - start


def main() -> None:
    image = [sys.executable, "-m", "halab.lab.cli", "image", "--engine", "podman"]
    subprocess.run(["podman", "rmi", image_tag("trixie"), release_tag("trixie")], capture_output=True, check=False)
    print(f"image export, cold: {timed(image):.1f} s")
    print(f"image export, cached: {timed(image):.1f} s")
    with tempfile.TemporaryDirectory(prefix="halab-bench-") as tmp, podman_service(Path(tmp)) as service:
        env = os.environ | {"DOCKER_HOST": service.docker_host}
        try:
            for step in STEPS:
                print(f"molecule {step}: {timed(['molecule', step, '-s', 'docker'], env):.1f} s", flush=True)
        finally:
            print(f"molecule destroy: {timed(['molecule', 'destroy', '-s', 'docker'], env):.1f} s")
    print(f"load average: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""No-op deploy of a VM scenario, this checkout's roles against another checkout's, on the
same lab: lab up, first deploy, then no-op deploys alternating between the two checkouts
(alternating cancels drift in the machine's load). The no-op time of a TCG guest is the
number of Python module runs in it, so this shows what a role change costs or saves.

Run as root from the repository:
  git worktree add /tmp/halab-before <commit>
  python bench/vm_noop.py examples/lvs-dr-ci.yml --before /tmp/halab-before [--runs 2]
Uses its own state dir (the image caches are shared); removes its lab at the end.
--keep-runs DIR keeps the runs' directories, for `python bench/task_profile.py DIR/<cluster>/<run>`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# The examples' secrets, as the VM lab tests set them.
LAB_SECRETS = {"HALAB_VRRP_PASS": "lab-vrrp", "HALAB_HACLUSTER_PASSWORD": "lab-hacluster",
               "HALAB_LAB_BMC_PASSWORD": "lab-bmc-bench"}  # fmt: skip


def halab(tree: Path, *args: str) -> tuple[float, str]:
    """Run `python -m halab ARGS` from `tree` (its package, roles and playbooks): run in
    `tree`, since `-m` puts the working directory ahead of PYTHONPATH."""
    env = os.environ | {"PYTHONPATH": str(tree)}
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "halab", *args], capture_output=True, text=True, env=env,
                          cwd=tree, check=False)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"halab {' '.join(args)} ({tree}) failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    return time.monotonic() - start, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cluster", type=Path)
    parser.add_argument("--before", type=Path, required=True, help="the other checkout (e.g. a git worktree)")
    parser.add_argument("--runs", type=int, default=2, help="no-op deploys per checkout")
    parser.add_argument("--keep-runs", type=Path, help="copy the run directories here (for bench/task_profile.py)")
    args = parser.parse_args()
    cluster = args.cluster.resolve()
    lab_name = yaml.safe_load(cluster.read_text())["name"]
    trees = {"before": args.before.resolve(), "after": ROOT}
    times: dict[str, list[float]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory(prefix="halab-vmnoop-") as tmp:
        os.environ["HALAB_STATE_DIR"] = str(Path(tmp) / "state")
        for name, value in LAB_SECRETS.items():
            os.environ.setdefault(name, value)
        try:
            up, _ = halab(ROOT, "lab", "up", str(cluster))
            first, _ = halab(ROOT, "deploy", str(cluster))
            for _ in range(args.runs):
                for label in ("before", "after"):
                    took, out = halab(trees[label], "deploy", str(cluster))
                    times[label].append(took)
                    print(f"{label}: no-op deploy {took:.1f} s; {out.strip().splitlines()[-1]}", flush=True)
        finally:
            subprocess.run([sys.executable, "-m", "halab", "lab", "down", lab_name], check=False)
            if args.keep_runs:
                shutil.copytree(Path(tmp) / "state" / "runs", args.keep_runs, dirs_exist_ok=True)
    print(f"{cluster.name}: lab up {up:.1f} s, first deploy {first:.1f} s")
    for label in ("before", "after"):
        runs = ", ".join(f"{t:.1f}" for t in times[label])
        print(f"{label} ({trees[label]}): no-op median {statistics.median(times[label]):.1f} s ({runs})")


if __name__ == "__main__":
    main()

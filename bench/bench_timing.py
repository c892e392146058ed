#!/usr/bin/env python3
"""Timing profiles on the lab: crash recovery and CPU-load tolerance per `corosync.timing`.

Run as root from the repository: python bench/bench_timing.py [REPEAT] [LOAD_SECONDS]
(defaults 3 and 60). For each case below: lab up, deploy, REPEAT x `halab drill --mode
crash` (outage = first failed to first good HTTP request through the VIP, probed every
100 ms from this machine), then LOAD_SECONDS of busy loops on every core of this machine
(the lab nodes share them) while the membership (corosync's ring id), the fence history
and the VIP's holder are watched; lab down. Cases:
- examples/arbiter.yml (2 members + qnetd: no fence race, fence_ipmilan `power_wait: 0`),
  timing default and fast, and fast with the agent's default `power_wait` (2 s);
- examples/web-ap-nodrbd.yml (2 members, fenced, race `priority`), timing fast: the race
  delay, not detection, dominates there.
Uses its own state dir; removes every lab it made, even on failure.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from halab.lab.load import full_cpu_load
from halab.validation import load_cluster

ROOT = Path(__file__).resolve().parents[1]
# (example, timing, fence_ipmilan's power_wait as the example sets it or "2", its default)
CASES = [("arbiter", "default", ""), ("arbiter", "fast", ""), ("arbiter", "fast", "2"), ("web-ap-nodrbd", "fast", "")]


def halab(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "halab", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"halab {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def with_timing(example: str, timing: str, power_wait: str, directory: Path) -> Path:
    text = (ROOT / "examples" / f"{example}.yml").read_text()
    text = re.sub(r"^corosync:\n", f"corosync:\n  timing: {timing}\n", text, count=1, flags=re.M)
    if power_wait:
        text = text.replace("power_wait: 0", f"power_wait: {power_wait}")
    path = directory / f"{example}-{timing}{power_wait}.yml"
    path.write_text(text)
    return path


def on(lab: str, node: str, command: str) -> str:
    return halab("lab", "ssh", node, "--lab", lab, "--", command)


def under_load(lab: str, members: list[str], vip: str, seconds: float) -> str:
    """What changed during `seconds` of busy loops on every core: membership, fences, VIP."""
    def snapshot() -> tuple[str, int, str]:
        ring = re.search(r"^Ring ID:\s+(\S+)", on(lab, members[0], "corosync-quorumtool -s"), re.M)
        fences = on(lab, members[0], "stonith_admin --history '*' --verbose || true").count("successful")
        holder = [m for m in members if vip in on(lab, m, "ip -o -4 addr show")]
        return (ring.group(1) if ring else "?"), fences, ",".join(holder)

    before = snapshot()
    full_cpu_load(seconds)
    after = snapshot()
    kinds = ("membership", "fencing", "VIP holder")
    changes = [what for what, b, a in zip(kinds, before, after, strict=True) if b != a]
    return "no change" if not changes else "CHANGED: " + ", ".join(changes)


def run_case(example: str, timing: str, power_wait: str, repeat: int, load: float, directory: Path) -> str:
    cluster = with_timing(example, timing, power_wait, directory)
    model = load_cluster(cluster, warn=lambda _: None)
    name, members = model.name, [node.name for node in model.members]
    vip = next(str(r.address) for r in model.resources if r.type == "ip")  # type: ignore[union-attr]
    try:
        halab("lab", "up", str(cluster))
        halab("deploy", str(cluster))
        outages = []
        for _ in range(repeat):
            out = halab("drill", str(cluster), "--mode", "crash", "--timeout", "300")
            print(f"{example} {timing}:\n{out}", file=sys.stderr, flush=True)  # the drill's timeline
            outages.append(float(re.search(r"drill passed: outage ([0-9.]+)s", out).group(1)))  # type: ignore[union-attr]
            time.sleep(5)  # failback settles
        loaded = under_load(name, members, vip, load)
    finally:
        subprocess.run([sys.executable, "-m", "halab", "lab", "down", name], check=False, capture_output=True)
    power = f", power_wait {power_wait}" if power_wait else ""
    return (f"| {example} | {timing}{power} | {', '.join(f'{o:.1f}' for o in outages)} s "
            f"(median {statistics.median(outages):.1f}) | {load:.0f} s full load: {loaded} |")


def main() -> None:
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    load = float(sys.argv[2]) if len(sys.argv) > 2 else 60
    with tempfile.TemporaryDirectory(prefix="halab-bench-") as tmp:
        os.environ["HALAB_STATE_DIR"] = str(Path(tmp) / "state")
        os.environ.setdefault("HALAB_LAB_BMC_PASSWORD", "lab-bmc-bench")
        rows = [run_case(*case, repeat, load, Path(tmp)) for case in CASES]
    print("| cluster | timing | crash: outage | under CPU load |\n|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()

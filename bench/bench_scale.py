#!/usr/bin/env python3
"""Deploy time against cluster size on the container lab: generated N-node clusters
(N = 2, 4, 8 by default): two corosync links, one service per node but one (a floating IP
and a Dummy in a group, each preferring its node; the spare takes over), the services
kept apart (anti-colocation), every node fenced through its lab BMC.

For each N: lab up, first converge, no-op re-run, lab down. On 2 cores every lab node
shares the same CPUs, so the CPU time of each deploy is split: the controller (halab,
ansible-playbook and the ssh clients: the deploy process and its children) and the nodes
(everything else the machine did meanwhile: dpkg, the daemons, sshd on the nodes). The
floor of a first converge is a plain `apt-get install` of the same packages on fresh nodes
(measured on the same machine, lab up again, all nodes in parallel).

Run as root from the repository: python bench/bench_scale.py [N ...]
"""

from __future__ import annotations

import itertools
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RELEASE = "trixie"  # the lab's default release


def packages(path: Path) -> str:
    """What the roles install on a member of this cluster (the checks' own list)."""
    from halab.checks.test_cluster import _packages
    from halab.inventory import build_inventory
    from halab.validation import load_cluster

    inventory = build_inventory(load_cluster(path))
    return " ".join(sorted(set(_packages("cluster_members", inventory.hostvars("sc1"), RELEASE))))


def cluster(size: int) -> dict:
    nodes = [{"name": f"sc{i}", "addresses": {"lan": f"198.18.90.{10 + i}", "hb": f"198.18.91.{10 + i}"}}
             for i in range(1, size + 1)]  # fmt: skip
    services = [f"svc{i}" for i in range(1, size)] or ["svc1"]
    resources, locations, colocations = [], [], []
    for i, svc in enumerate(services, start=1):
        resources += [{"name": f"{svc}-vip", "type": "ip", "address": f"198.18.90.{100 + i}"},
                      {"name": f"{svc}-app", "type": "primitive", "agent": "ocf:heartbeat:Dummy"},
                      {"name": svc, "type": "group", "members": [f"{svc}-vip", f"{svc}-app"]}]  # fmt: skip
        locations.append({"resource": svc, "node": f"sc{i}", "score": 500})
    for a, b in itertools.combinations(services, 2):  # every two services apart
        colocations.append({"resource": b, "with": a, "score": -1000})
    return {
        "name": f"scale{size}",
        "networks": [{"name": "lan", "subnet": "198.18.90.0/24"}, {"name": "hb", "subnet": "198.18.91.0/24"}],
        "nodes": nodes,
        "corosync": {"links": ["lan", "hb"]},
        "fencing": {"devices": [{"name": f"bmc-{n['name']}", "agent": "fence_ipmilan", "targets": [n["name"]],
                                 "params": {"ip": "198.18.90.1", "ipport": 6230 + i, "username": "admin",
                                            "lanplus": 1, "cipher": 3},
                                 "password": {"env": "HALAB_LAB_BMC_PASSWORD"}}
                                for i, n in enumerate(nodes)]},
        "resources": resources,
        "constraints": {"location": locations, "colocation": colocations},
        "lab": {"bmc": {"password": {"env": "HALAB_LAB_BMC_PASSWORD"}}},
    }


def system_cpu() -> float:
    """CPU seconds the whole machine spent (user + nice + system), from /proc/stat."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    return (int(fields[0]) + int(fields[1]) + int(fields[2])) / os.sysconf("SC_CLK_TCK")


def timed(*args: str) -> tuple[float, float, float]:
    """Wall time, controller CPU (the halab process tree) and the rest of the machine's CPU."""
    before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    before_cpu, start = system_cpu(), time.monotonic()
    done = subprocess.run([sys.executable, "-m", "halab", *args], capture_output=True, text=True, check=False)
    wall = time.monotonic() - start
    if done.returncode != 0:
        raise SystemExit(f"halab {' '.join(args)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    controller = (after.ru_utime - before_children.ru_utime) + (after.ru_stime - before_children.ru_stime)
    return wall, controller, system_cpu() - before_cpu - controller


def floor(path: Path, size: int) -> float:
    """A plain parallel apt-get install of the cluster packages on fresh nodes."""
    wanted = packages(path)
    subprocess.run([sys.executable, "-m", "halab", "lab", "up", str(path)], check=True, capture_output=True)
    start = time.monotonic()
    procs = [subprocess.Popen([sys.executable, "-m", "halab", "lab", "ssh", f"sc{i}", "--",
                               f"export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq "
                               f"--no-install-recommends {wanted} >/dev/null"])
             for i in range(1, size + 1)]  # fmt: skip
    for proc in procs:
        proc.wait()
    elapsed = time.monotonic() - start
    subprocess.run([sys.executable, "-m", "halab", "lab", "down", f"scale{size}"], check=False)
    return elapsed


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [2, 4, 8]
    rows = []
    with tempfile.TemporaryDirectory(prefix="halab-bench-") as tmp:
        os.environ["HALAB_STATE_DIR"] = str(Path(tmp) / "state")
        os.environ.setdefault("HALAB_LAB_BMC_PASSWORD", "lab-bmc-bench")
        for size in sizes:
            path = Path(tmp) / f"scale{size}.yml"
            path.write_text(yaml.safe_dump(cluster(size), sort_keys=False))
            try:
                timed("lab", "up", str(path))
                first = timed("deploy", str(path))
                noop = timed("deploy", str(path))
            finally:
                subprocess.run([sys.executable, "-m", "halab", "lab", "down", f"scale{size}"], check=False)
            rows.append((size, first, noop, floor(path, size)))
    print("nodes | first converge: wall, controller CPU, nodes' CPU | no-op: wall, controller CPU, nodes' CPU"
          " | floor (plain apt-get install)")  # fmt: skip
    for size, first, noop, plain in rows:
        print(f"{size:5} | {first[0]:6.1f} s, {first[1]:6.1f} s, {first[2]:6.1f} s | "
              f"{noop[0]:5.1f} s, {noop[1]:5.1f} s, {noop[2]:5.1f} s | {plain:5.1f} s")


if __name__ == "__main__":
    main()

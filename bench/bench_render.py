#!/usr/bin/env python3
"""Benchmark: validate + inventory + render of a generated 32-node cluster, in-process.

Goal (issue 2): under 0.5 s. Run: python bench/bench_render.py [--nodes 32] [--repeat 20]
Prints the median and the best of the repeats; record the figures in docs/performance.md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from halab.inventory import build_inventory
from halab.render import render_all
from halab.validation import load_cluster


def generated_cluster(nodes: int) -> dict:
    """A cluster with `nodes` members on two links, a VIP + Apache per 4 nodes, constraints."""
    names = [f"n{i:02d}" for i in range(1, nodes + 1)]
    resources: list[dict] = [{"name": "web", "type": "apache"},
                             {"name": "web-clone", "type": "clone", "resource": "web"}]
    constraints: dict[str, list] = {"location": [], "colocation": [], "order": []}
    for index in range(nodes // 4):
        vip = f"vip{index}"
        resources.append({"name": vip, "type": "ip", "address": f"198.18.128.{200 + index}"})
        constraints["location"].append({"resource": vip, "node": names[index], "score": 50})
        constraints["colocation"].append({"resource": vip, "with": "web-clone"})
        constraints["order"].append({"first": "web-clone", "then": vip})
    return {
        "name": "bench",
        "networks": [{"name": "lan", "subnet": "198.18.128.0/24"}, {"name": "hb", "subnet": "198.18.129.0/24"}],
        "nodes": [{"name": name, "addresses": {"lan": f"198.18.128.{i + 10}", "hb": f"198.18.129.{i + 10}"}}
                  for i, name in enumerate(names)],
        "corosync": {"links": ["lan", "hb"]},
        "fencing": {"devices": [{"name": f"fence-{name}", "agent": "fence_ipmilan", "targets": [name],
                                 "params": {"ip": f"198.18.130.{i + 10}", "username": "admin"},
                                 "password": {"env": "IPMI_PASSWORD"}} for i, name in enumerate(names)]},
        "resources": resources,
        "constraints": constraints,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.yml"
        path.write_text(yaml.safe_dump(generated_cluster(args.nodes)))
        render_all(build_inventory(load_cluster(path)))  # warm-up: imports, template compilation
        timings = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            files = render_all(build_inventory(load_cluster(path)))
            timings.append(time.perf_counter() - start)
    print(f"validate+inventory+render, {args.nodes} nodes, {len(files)} files: "
          f"median {statistics.median(timings) * 1000:.0f} ms, best {min(timings) * 1000:.0f} ms "
          f"({args.repeat} runs)")


if __name__ == "__main__":
    main()

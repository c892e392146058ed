"""Members join and leave a running cluster, and corosync restarts one member at a time,
while a client requests the service every 100 ms (examples/web-ap-nodrbd.yml, fenced).

1. the 2-node cluster runs; web3 (a third lab node) joins: existing members reload
   corosync.conf (two_node off, three votes), nothing restarts: no failed request;
2. web3 leaves (`leaving: true`): drained, stopped cleanly, dropped by a reload and from
   the CIB, never fenced: no failed request; then it is deleted from the file;
3. a change only a restart applies (knet link_mode): the members restart one after the
   other, each drained first: the measured gap is the service moving between nodes.
"""

from __future__ import annotations

import re
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from ..conftest import ROOT
from .helpers import halab, ok, on

pytestmark = pytest.mark.lab

EXAMPLE = ROOT / "examples" / "web-ap-nodrbd.yml"
VIP_URL = "http://198.18.50.100/"


class Probe(threading.Thread):
    """GET the VIP every 100 ms; remember when a request failed."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.failures: list[float] = []
        self.requests = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.1):
            self.requests += 1
            try:
                with urllib.request.urlopen(VIP_URL, timeout=0.5) as reply:
                    if reply.status != 200:
                        self.failures.append(time.monotonic())
            except OSError:
                self.failures.append(time.monotonic())

    def __enter__(self) -> Probe:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.join()

    def outages(self) -> list[tuple[float, float]]:
        """(start, seconds) of each run of failed requests: a request that succeeded in
        between (failures more than a second apart) ends one; a move is one outage."""
        runs: list[list[float]] = []
        for moment in self.failures:
            if runs and moment - runs[-1][-1] <= 1.0:
                runs[-1].append(moment)
            else:
                runs.append([moment])
        return [(run[0], run[-1] - run[0] + 0.1) for run in runs]

    def gap(self) -> float:
        """The longest outage in seconds (0: no request failed)."""
        return max((seconds for _, seconds in self.outages()), default=0.0)

    def report(self, since: float) -> str:
        """Failed requests and every outage, seconds from `since` (time.monotonic())."""
        windows = ", ".join(f"{start - since:.1f}s +{seconds:.1f}s" for start, seconds in self.outages())
        return f"{len(self.failures)} of {self.requests} requests failed; outages: {windows or 'none'}"


def variant(tmp_path: Path, name: str, *, third: bool, leaving: bool = False, link_mode: str | None = None) -> Path:
    doc = yaml.safe_load(EXAMPLE.read_text())
    if third:
        doc["nodes"].append({"name": "web3", "addresses": {"lan": "198.18.50.13", "hb": "198.18.51.13"},
                             **({"leaving": True} if leaving else {})})  # fmt: skip
        if not leaving:
            doc["corosync"]["quorum"] = {}  # three votes: two_node goes (a reload applies it)
            doc["fencing"]["devices"].append({"name": "bmc-web3", "agent": "fence_ipmilan", "targets": ["web3"],
                                              "params": {"ip": "198.18.50.1", "ipport": 6232, "username": "admin",
                                                         "lanplus": 1, "cipher": 3},
                                              "password": {"env": "HALAB_LAB_BMC_PASSWORD"}})  # fmt: skip
    if link_mode:
        doc["corosync"]["link_mode"] = link_mode
    path = tmp_path / f"{name}.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def votes(node: str) -> str:
    return on("webnd", node, "corosync-quorumtool -s").stdout


def test_members_join_leave_and_restart_one_at_a_time(lab_state: Path, tmp_path: Path) -> None:
    two, three = variant(tmp_path, "two", third=False), variant(tmp_path, "three", third=True)
    ok("lab", "up", str(three))  # three lab nodes; the cluster starts with two of them
    ok("deploy", str(two))

    with Probe() as probe:
        ok("deploy", str(three))
    assert probe.requests > 50 and probe.failures == [], f"{len(probe.failures)} failed requests while web3 joined"
    status = votes("web3")
    assert re.search(r"^Expected votes:\s+3$", status, re.M) and "2Node" not in status, status
    ok("verify", str(three))

    with Probe() as probe:
        ok("deploy", str(variant(tmp_path, "leaving", third=True, leaving=True)))
    assert probe.failures == [], f"{len(probe.failures)} failed requests while web3 left"
    assert "inactive" in on("webnd", "web3", "systemctl is-active corosync pacemaker").stdout
    status = votes("web1")
    assert re.search(r"^Expected votes:\s+2$", status, re.M) and "2Node" in status, status
    assert "web3" not in on("webnd", "web1", "crm_node --list").stdout
    history = on("webnd", "web1", "stonith_admin --history web3 --verbose").stdout
    assert "reboot of web3" not in history, history  # it left cleanly: never fenced
    ok("deploy", str(two))  # web3 deleted from the file
    ok("verify", str(two))

    started = time.monotonic()
    with Probe() as probe:
        rolled = halab("deploy", str(variant(tmp_path, "active", third=False, link_mode="active")))
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    order = re.findall(r"changed: Restart corosync on the member - (web\d)", rolled.stderr)
    assert sorted(order) == ["web1", "web2"], rolled.stderr
    print(f"\nrolling restart: {probe.report(started)} (the service moves off each member before it restarts)")
    assert probe.gap() < 15
    assert "link_mode: active" in on("webnd", "web2", "cat /etc/corosync/corosync.conf").stdout

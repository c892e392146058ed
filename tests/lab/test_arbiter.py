"""Two nodes and a corosync-qnetd arbitrator (examples/arbiter.yml, qdevice TLS on) on real
lab nodes: lab up -> deploy (certificate exchange) -> verify (qdevice checks) -> idempotent
re-deploy -> crash arb1 -> arb2 stays quorate on the qdevice vote and serves the VIP ->
`corosync.timing: fast` applied at runtime -> 30 s of full CPU load changes no membership ->
crash arb2 -> arb1 serves within the fast profile's bound -> down.

Timings are printed (run with -s to see them).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from halab.lab.load import full_cpu_load

from ..conftest import ROOT
from .helpers import halab, page, wait_for_page, wait_until
from .helpers import on as lab_ssh

pytestmark = pytest.mark.lab

EXAMPLE = ROOT / "examples" / "arbiter.yml"
VIP_URL = "http://198.18.40.100/"


def on(node: str, command: str) -> str:
    ran = lab_ssh("arb", node, command, timeout=60)
    assert ran.returncode == 0, f"{node}: {command}: {ran.stdout}{ran.stderr}"
    return ran.stdout


def ring_id(node: str) -> str:
    return re.search(r"^Ring ID:\s+(\S+)", on(node, "corosync-quorumtool -s"), re.M).group(1)  # type: ignore[union-attr]


def fence_count(node: str) -> int:
    return on(node, "stonith_admin --history '*' --verbose || true").count("successful")


def test_arbiter_cluster_with_tls_qdevice_survives_a_member_crash(lab_state: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    up = halab("lab", "up", str(EXAMPLE))
    assert up.returncode == 0, up.stdout + up.stderr
    print(f"\nlab up: {time.monotonic() - started:.1f}s")

    started = time.monotonic()
    first = halab("deploy", str(EXAMPLE))
    assert first.returncode == 0, first.stdout + first.stderr
    print(f"first deploy: {time.monotonic() - started:.1f}s")

    # Two members plus the qdevice vote, over TLS with the certificate the deploy made.
    quorum = on("arb1", "corosync-quorumtool -s")
    assert re.search(r"^Expected votes:\s+3$", quorum, re.M), quorum
    assert re.search(r"^Flags:.*\bQdevice\b", quorum, re.M), quorum
    clients = on("qnetd", "corosync-qnetd-tool -l -v")
    assert 'Cluster "arb":' in clients, clients
    assert len(re.findall(r"TLS active:\s+Yes \(client certificate verified\)", clients)) == 2, clients

    verify = halab("verify", str(EXAMPLE))
    assert verify.returncode == 0, verify.stdout + verify.stderr

    started = time.monotonic()
    second = halab("deploy", str(EXAMPLE))
    print(f"no-op deploy: {time.monotonic() - started:.1f}s")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "no changes" in second.stdout, second.stdout + second.stderr

    # Crash the node that serves, arb1 (moved there first if Pacemaker placed it on arb2).
    if "arb1" not in (page(VIP_URL) or ""):
        move = halab("move", str(EXAMPLE), "site", "arb1")
        assert move.returncode == 0, move.stdout + move.stderr
    wait_for_page(VIP_URL, "arb1", 60)

    crashed = time.monotonic()
    crash = halab("lab", "crash", "arb1")
    assert crash.returncode == 0, crash.stdout + crash.stderr

    # One member left: its own vote and the qdevice's are 2 of 3, so it stays quorate (and
    # fences arb1 through its BMC, which boots it again: watch before it is back).
    def alone_and_quorate() -> bool:
        quorum = lab_ssh("arb", "arb2", "corosync-quorumtool -s", timeout=20).stdout
        return all(re.search(p, quorum, re.M) for p in (r"^Quorate:\s+Yes", r"^Total votes:\s+2$",
                                                           r"^\s*0\s+1\s+Qdevice"))  # fmt: skip

    assert wait_until("arb2 quorate on its vote and the qdevice's", alone_and_quorate, 60, every=0.5) < 60
    wait_for_page(VIP_URL, "arb2", 90)
    print(f"service back on arb2 {time.monotonic() - crashed:.1f}s after crashing arb1 (fenced first)")
    fenced = on("arb2", "stonith_admin --history arb1 --verbose")
    assert "reboot of arb1 successful" in fenced, fenced

    # Fast timing on the running cluster: a runtime reload (corosync keeps running), then
    # full CPU load on every core changes no membership and fences nobody (corosync runs
    # SCHED_RR), then a crash is detected in ~1.1 s (token 500 ms + consensus 600 ms).
    wait_until("arb1 back as a member", lambda: "arb1" in on("arb2", "crm_node -p").split(), 180, every=2)
    fast = tmp_path / "arbiter-fast.yml"
    fast.write_text(EXAMPLE.read_text().replace("corosync:\n", "corosync:\n  timing: fast\n"))
    pids = {node: on(node, "pidof corosync").strip() for node in ("arb1", "arb2")}
    deploy = halab("deploy", str(fast))
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    for node, pid in pids.items():
        assert on(node, "corosync-cmapctl -g runtime.config.totem.token").strip().endswith("= 500"), node
        assert on(node, "pidof corosync").strip() == pid, f"{node}: corosync restarted for a timing change"
    wait_for_page(VIP_URL, "arb2", 30)
    ring, fences = ring_id("arb2"), fence_count("arb2")
    full_cpu_load(30)
    assert ring_id("arb2") == ring, "a membership change under CPU load (fast timing)"
    assert fence_count("arb2") == fences
    assert "arb2" in (page(VIP_URL) or "")

    started = time.monotonic()
    crash = halab("lab", "crash", "arb2")
    assert crash.returncode == 0, crash.stdout + crash.stderr
    wait_for_page(VIP_URL, "arb1", 90)
    print(f"fast timing: service back on arb1 {time.monotonic() - started:.1f}s after crashing arb2")

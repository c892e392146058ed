"""Converge the corosync/pacemaker roles for real on a 2-node systemd-nspawn lab
(examples/web-ap-nodrbd.yml): first run, no-op second run (changed=0), then crash the
node holding the VIP and check the peer serves it. Root only, slow: `pytest -m lab`.

Apache itself belongs to the apache role; until site.yml imports it, the test installs
apache2 + curl on the nodes by hand so the CIB's apache resource can start."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "web-ap-nodrbd.yml"
VIP = "198.18.50.100"

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("systemd-nspawn") is None
                       or shutil.which("ansible-playbook") is None,
                       reason="needs root, systemd-nspawn and ansible-playbook"),
]


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory):
    from halab.inventory import build_inventory, write_inventory
    from halab.lab import inventory_overrides, lab_spec_from_cluster
    from halab.lab import lab as ops
    from halab.model import load_cluster

    cluster = load_cluster(EXAMPLE)
    spec = lab_spec_from_cluster(cluster)
    ops.up(spec, str(EXAMPLE))
    try:
        inv = build_inventory(cluster, inventory_overrides(spec.name))
        out = tmp_path_factory.mktemp("inv")
        write_inventory(inv, out, str(EXAMPLE))
        # Exercise the secret path too: the hacluster password comes from an env lookup.
        (out / "group_vars" / "all" / "local.yml").write_text(
            "pacemaker_hacluster_password: \"{{ lookup('ansible.builtin.env', 'HALAB_TEST_HACLUSTER_PW') }}\"\n")
        os.environ["HALAB_TEST_HACLUSTER_PW"] = "lab-only-Secret-1"
        _ansible(out, "cluster_members", "-m", "ansible.builtin.shell", "-a",
                 "apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends apache2 curl >/dev/null"
                 " && a2enmod -q status && systemctl disable --now apache2")
        yield out, spec.name
    finally:
        ops.down(spec.name)


def _ansible(inv: Path, *argv: str) -> str:
    res = subprocess.run(["ansible", "-i", str(inv), *argv], capture_output=True, text=True,
                         cwd=ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def _converge(inv: Path) -> tuple[dict[str, int], float]:
    start = time.monotonic()
    res = subprocess.run(["ansible-playbook", "-i", str(inv), "playbooks/site.yml"],
                         capture_output=True, text=True, cwd=ROOT)
    took = time.monotonic() - start
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr
    changed = {m[0]: int(m[1]) for m in re.findall(r"^(\S+)\s*:.*?changed=(\d+)", res.stdout, re.M)}
    return changed, took


def _serving() -> bool:
    res = subprocess.run(["curl", "-s", "-m", "1", "-o", "/dev/null", "-w", "%{http_code}",
                          f"http://{VIP}/"], capture_output=True, text=True)
    return res.stdout == "200"


def test_converge_twice_then_failover(inventory) -> None:
    from halab.lab import lab as ops

    inv, lab_name = inventory
    changed, first = _converge(inv)
    assert sum(changed.values()) > 0
    changed, second = _converge(inv)
    assert changed and all(v == 0 for v in changed.values()), changed
    print(f"first converge {first:.0f}s, no-op re-run {second:.0f}s")
    assert _serving()

    status = _ansible(inv, "web1", "-m", "ansible.builtin.command", "-a", "crm_resource --locate -r web-vip")
    active = re.search(r"running on: (\S+)", status).group(1)
    ops.crash(lab_name, active)
    crashed = time.monotonic()
    while not _serving():
        assert time.monotonic() - crashed < 90, "VIP not served by the peer 90 s after the crash"
        time.sleep(0.5)
    print(f"VIP served again {time.monotonic() - crashed:.1f}s after crashing {active}")

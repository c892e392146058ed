"""The inventory as a first-class input, round the loop on real lab nodes (one lab):
generate -> edit (an override of one key of a dict and of one scalar, an extra host, an
extra file) -> regenerate (all three kept, nothing else changed) -> deploy with plain
`ansible-playbook` -> `halab deploy --inventory` (no changes: it installs the same, the
overrides included) -> `halab verify --inventory` passes, while `halab verify` without it
reports the overridden corosync.conf as drift -> `halab status --inventory`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import ROOT
from .helpers import halab, ok, on

pytestmark = pytest.mark.lab

EXAMPLE = ROOT / "examples" / "web-ap-nodrbd.yml"
LAB = "webnd"
OVERRIDE = """\
corosync_token: 4000
pacemaker_cluster_properties_local:
  no-quorum-policy: freeze
"""
EXTRA_HOSTS = """\
all:
  children:
    monitoring:
      hosts:
        mon1:
          ansible_connection: local
"""


def ansible_playbook(inventory: Path) -> subprocess.CompletedProcess[str]:
    """Plain ansible-playbook from halab's environment, from the repository root (ansible.cfg)."""
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), "playbooks/site.yml"]
    return subprocess.run(command, capture_output=True, text=True, timeout=1500, check=False, cwd=ROOT,
                          env=os.environ | {"ANSIBLE_NOCOLOR": "1"})  # fmt: skip


def edit(inventory: Path) -> dict[Path, str]:
    """The operator's edits: an override file, a hosts file, a note beside a host's vars."""
    files = {
        inventory / "group_vars" / "all" / "local.yml": OVERRIDE,
        inventory / "hosts.yml": EXTRA_HOSTS,
        inventory / "host_vars" / "web1" / "NOTES.txt": "web1: rack 4, PDU outlet 7\n",
    }
    for path, text in files.items():
        path.write_text(text)
    return files


def on_web1(command: str) -> str:
    done = on(LAB, "web1", command)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_edited_inventory_round_trip(lab_state: Path, tmp_path: Path) -> None:
    ok("lab", "up", str(EXAMPLE))
    inventory = tmp_path / "inventory"
    first = ok("inventory", str(EXAMPLE), "-o", str(inventory))
    assert "added hosts.halab.yml" in first and "added group_vars/all/halab.yml" in first, first

    mine = edit(inventory)
    again = ok("inventory", str(EXAMPLE), "-o", str(inventory))
    assert "0 added, 0 changed, 0 removed" in again, again
    assert all(path.read_text() == text for path, text in mine.items())

    plain = ansible_playbook(inventory)
    assert plain.returncode == 0, plain.stdout[-4000:] + plain.stderr[-4000:]
    assert "mon1" not in plain.stdout, "the operator's extra host is in no halab group: untouched"
    assert "token: 4000" in on_web1("cat /etc/corosync/corosync.conf")
    properties = "crm_attribute --type crm_config --name {} --query --quiet"
    assert on_web1(properties.format("no-quorum-policy")).strip() == "freeze"
    assert on_web1(properties.format("stonith-enabled")).strip() == "true"  # the other keys stay halab's

    deploy = ok("deploy", str(EXAMPLE), "--inventory", str(inventory))
    assert "no changes" in deploy, deploy  # the same inventory, overrides included: nothing to do

    ok("verify", str(EXAMPLE), "--inventory", str(inventory))
    drift = halab("verify", str(EXAMPLE))  # expects the cluster file's token, not the override
    assert drift.returncode == 1, drift.stdout + drift.stderr
    assert "/etc/corosync/corosync.conf differs" in drift.stdout, drift.stdout
    ok("status", str(EXAMPLE), "--inventory", str(inventory))

"""`--ssh-config` against real lab nodes, the way a Vagrant cluster is reached.

The ssh config points at the lab's nodes by another route than the lab's own: their
heartbeat addresses (the lab connects on the lan ones), a copy of the lab's key in a
directory with a blank in its name (Vagrant quotes such paths), the lab's pinned host
keys. `halab inventory --ssh-config` must carry that into the inventory over the running
lab's connections, plain `ansible` must reach every node through it, and `halab status
--ssh-config` must too: each node's sshd logs the logins, and the ones `status` makes come
from the host's side of the heartbeat network. No deploy (status then reports an unhealthy
cluster, which is the truth).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from halab.lab import state

from ..conftest import ROOT
from .helpers import halab, ok, on

pytestmark = pytest.mark.lab

EXAMPLE = ROOT / "examples" / "web-ap-nodrbd.yml"
NODES = ("web1", "web2")


def logins_from(node: str, address: str) -> int:
    """How many SSH logins the node's sshd accepted from `address` (its own journal)."""
    journal = on("webnd", node, "journalctl -q -o cat _COMM=sshd-session _COMM=sshd")
    assert journal.returncode == 0, journal.stdout + journal.stderr
    lines = journal.stdout.splitlines()
    return sum(1 for line in lines if line.startswith("Accepted publickey") and f" from {address} " in line)


def write_ssh_config(tmp_path: Path) -> tuple[Path, dict[str, str], Path]:
    """An ssh config as `vagrant ssh-config` writes it, for the lab's nodes on their hb addresses."""
    st = state.load("webnd")
    assert st is not None
    key = tmp_path / "my keys" / "id_ed25519"
    key.parent.mkdir()
    shutil.copyfile(st.key, key)
    key.chmod(0o600)
    addresses = {name: str(st.spec.node(name).addresses["hb"]) for name in NODES}
    blocks = [
        f"Host {name}\n  HostName {addresses[name]}\n  User root\n  Port 22\n"
        f"  UserKnownHostsFile {st.known_hosts}\n  StrictHostKeyChecking yes\n"
        f'  IdentityFile "{key}"\n  IdentitiesOnly yes\n  LogLevel FATAL\n'
        for name in NODES
    ]
    path = tmp_path / "ssh-config"
    path.write_text("\n".join(blocks))
    return path, addresses, key


def ansible(*args: str) -> str:
    """Plain Ansible from halab's environment, run from the repository root (ansible.cfg)."""
    command = [str(Path(sys.executable).parent / "ansible"), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False, cwd=ROOT,
                          env=os.environ | {"ANSIBLE_NOCOLOR": "1"})  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_ssh_config_reaches_lab_nodes(lab_state: Path, tmp_path: Path) -> None:
    ok("lab", "up", str(EXAMPLE))
    config, addresses, key = write_ssh_config(tmp_path)
    inventory = tmp_path / "inventory"
    ok("inventory", str(EXAMPLE), "--ssh-config", str(config), "-o", str(inventory))
    for name in NODES:  # the ssh config's values, over the running lab's (lan address, the lab's key)
        host_vars = yaml.safe_load((inventory / "host_vars" / name / "halab.yml").read_text())
        assert (host_vars["ansible_host"], host_vars["ansible_ssh_private_key_file"]) == (addresses[name], str(key))

    assert ansible("-i", str(inventory), "all", "-m", "ansible.builtin.ping", "-o").count("SUCCESS") == 2
    seen = ansible("-i", str(inventory), "all", "-o", "-m", "ansible.builtin.command", "-a", "printenv SSH_CONNECTION")
    for name in NODES:  # SSH_CONNECTION = client address, port, server address, port
        line = next(row for row in seen.splitlines() if row.startswith(f"{name} "))
        assert f" {addresses[name]} 22" in line, seen

    spec = state.load("webnd").spec
    hb_host = str(next(net.host_address for net in spec.networks if net.name == "hb"))  # this machine on hb
    before = {name: logins_from(name, hb_host) for name in NODES}
    status = halab("status", str(EXAMPLE), "--ssh-config", str(config))
    assert status.returncode == 1, status.stdout + status.stderr  # nothing deployed: not healthy
    assert "Traceback" not in status.stderr
    for name in NODES:  # status reached each node the ssh config's way
        assert logins_from(name, hb_host) > before[name], name

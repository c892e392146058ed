"""Real labs: nspawn nodes on this machine (root). Up, SSH, crash, cut, restore, down, leaks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from halab.lab import inventory_overrides, state
from halab.lab.bmcserver import FIRMWARE_SECONDS
from halab.lab.cli import lab
from halab.lab.lab import FAIL_AFTER_NODES_ENV
from halab.lab.ssh import ssh_argv

from .conftest import leaks

pytestmark = pytest.mark.lab

CLUSTER = """\
name: labtest
networks:
  - {name: lan, subnet: 198.19.250.0/24}
  - {name: ring1, subnet: 198.19.251.0/24, interface: hb1}
nodes:
  - {name: alpha, addresses: {lan: 198.19.250.11, ring1: 198.19.251.11}}
  - {name: beta, addresses: {lan: 198.19.250.12, ring1: 198.19.251.12}}
  - {name: gamma, addresses: {lan: 198.19.250.13, ring1: 198.19.251.13}}
fencing: disabled
"""


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(lab, list(args), env=env)
    return result.exit_code, result.output


def on(lab_name: str, node: str, command: str) -> subprocess.CompletedProcess[str]:
    st = state.load(lab_name)
    assert st is not None
    argv = ssh_argv(st, node, [command])  # like ssh: the remote shell parses it
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


def status(lab_name: str) -> dict:
    code, out = cli("status", lab_name, "--json")
    assert code == 0, out
    return json.loads(out)["nodes"]


def test_cluster_lab_up_ssh_crash_cut_restore_down(lab_state: Path, tmp_path: Path) -> None:
    path = tmp_path / "labtest.yml"
    path.write_text(CLUSTER)
    code, out = cli("up", str(path))
    assert code == 0, out
    assert f"halab deploy {path}" in out

    # names, addresses, interface names and /etc/hosts from the cluster file
    for node, last in (("alpha", 11), ("beta", 12), ("gamma", 13)):
        got = on("labtest", node, "hostname; ip -br -4 addr show hb1; getent hosts alpha")
        assert got.returncode == 0, got.stderr
        lines = got.stdout.splitlines()
        assert lines[0] == node
        assert f"198.19.251.{last}/24" in lines[1]
        assert lines[2].startswith("198.19.250.11")
    assert on("labtest", "alpha", "ping -c1 -W2 198.19.251.13").returncode == 0

    # `up` again leaves a running lab alone
    pids = {n: d["pid"] for n, d in status("labtest").items()}
    assert cli("up", str(path))[0] == 0
    assert {n: d["pid"] for n, d in status("labtest").items()} == pids

    # the `ssh` verb passes the remote exit code through
    ssh = [sys.executable, "-m", "halab.lab.cli", "ssh", "beta", "--", "exit 7"]
    assert subprocess.run(ssh, env=dict(os.environ), timeout=30).returncode == 7

    # crash: the node's processes really die (no clean shutdown), SSH fails
    st = state.load("labtest")
    assert st is not None
    leader = st.nodes["beta"].leader
    assert leader is not None and leader.alive()
    assert cli("crash", "beta")[0] == 0
    assert not leader.alive()
    assert status("labtest")["beta"]["state"] == "down"
    assert on("labtest", "alpha", "ping -c1 -W1 198.19.250.12").returncode != 0

    # cut: only the chosen link of gamma goes dark
    assert cli("cut", "gamma", "--link", "1")[0] == 0
    assert status("labtest")["gamma"]["links"] == {"lan": "up", "ring1": "cut"}
    assert on("labtest", "alpha", "ping -c1 -W1 198.19.251.13").returncode != 0
    assert on("labtest", "alpha", "ping -c1 -W1 198.19.250.13").returncode == 0

    # restore: cable back in; the crashed node boots again and answers SSH
    assert cli("restore", "gamma")[0] == 0
    assert on("labtest", "alpha", "ping -c1 -W2 198.19.251.13").returncode == 0
    assert cli("restore", "beta")[0] == 0
    assert on("labtest", "beta", "systemctl is-system-running --wait").stdout.strip() in (
        "running",
        "degraded",
    )
    st = state.load("labtest")
    assert st is not None and st.nodes["beta"].leader != leader

    # the virtual BMCs speak IPMI (ipmitool, as fence_ipmilan runs it) and act on the node
    _ipmi_power_cycle(lab_state, status("labtest"))

    # Ansible reaches every node with the connection variables halab deploy will use
    overrides = inventory_overrides("labtest")
    assert overrides is not None and set(overrides) == {"alpha", "beta", "gamma"}
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {"hosts": overrides}}))
    ping = subprocess.run(
        ["ansible", "all", "-i", str(inventory), "-m", "ping", "-o"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert ping.stdout.count("SUCCESS") == 3

    lab_dir = lab_state / "labs" / "labtest"
    code, out = cli("down", str(path))
    assert code == 0, out
    assert leaks("labtest", lab_dir) == []
    assert not lab_dir.exists()
    assert inventory_overrides("labtest") is None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _ipmitool(address: str, password: str, *command: str) -> subprocess.CompletedProcess[str]:
    host, port = address.split(":")
    return subprocess.run(["ipmitool", "-I", "lanplus", "-C", "3", "-H", host, "-p", port, "-U", "admin",
                           "-E", *command], capture_output=True, text=True, timeout=60,
                          env=os.environ | {"IPMI_PASSWORD": password})  # fmt: skip


def _await_running(node: str) -> None:
    """The BMC boots a node once its firmware delay has passed, as a real server does."""
    deadline = time.monotonic() + FIRMWARE_SECONDS + 30
    while status("labtest")[node]["state"] != "running":
        assert time.monotonic() < deadline, f"{node} did not boot after 'power on'"
        time.sleep(1)


def _ipmi_power_cycle(lab_state: Path, nodes: dict) -> None:
    password = (lab_state / "labs" / "labtest" / "bmc-password").read_text().strip()  # generated, 0600
    assert (lab_state / "labs" / "labtest" / "bmc-password").stat().st_mode & 0o077 == 0
    bmc = nodes["gamma"]["bmc"]["bmc"]["address"]
    assert "Chassis Power is on" in _ipmitool(bmc, password, "power", "status").stdout
    assert _ipmitool(bmc, "wrong-password", "power", "status").returncode != 0
    assert _ipmitool(bmc, password, "power", "off").returncode == 0
    assert status("labtest")["gamma"]["state"] == "down"
    assert "Chassis Power is off" in _ipmitool(bmc, password, "power", "status").stdout
    assert _ipmitool(bmc, password, "power", "on").returncode == 0
    assert "Chassis Power is on" in _ipmitool(bmc, password, "power", "status").stdout  # firmware runs
    _await_running("gamma")
    assert _ipmitool(bmc, password, "power", "cycle").returncode == 0
    _await_running("gamma")
    assert cli("unplug", "gamma")[0] == 0
    assert status("labtest")["gamma"]["bmc"]["bmc"]["state"] == "unplugged"
    assert _ipmitool(bmc, password, "-N", "1", "-R", "1", "power", "status").returncode != 0  # no answer
    bmc_processes = [p for p in Path("/proc").glob("[0-9]*")
                     if b"halab.lab.bmcserver labtest" in _read(p / "cmdline").replace(b"\0", b" ")]  # fmt: skip
    assert len(bmc_processes) == 3
    for proc in bmc_processes:  # the password is in no BMC's arguments or environment
        assert password.encode() not in _read(proc / "cmdline") + _read(proc / "environ")
    log = (lab_state / "labs" / "labtest" / "nodes" / "gamma" / "bmc.log").read_text()
    assert "bmc: power off" in log and "bmc: power on" in log and password not in log
    assert cli("restore", "gamma")[0] == 0  # waits for SSH; the BMC stays unplugged until down


def test_failed_up_cleans_up_and_spares_other_labs(lab_state: Path) -> None:
    assert cli("up", "--nodes", "1", "--name", "keep")[0] == 0
    code, out = cli("up", "--nodes", "3", "--name", "broken", env={FAIL_AFTER_NODES_ENV: "2"})
    assert code == 1, out
    assert "injected failure" in out
    assert leaks("broken", lab_state / "labs" / "broken") == []
    assert state.lab_names() == ["keep"]
    assert on("keep", "node1", "true").returncode == 0  # the other lab is untouched

    assert cli("down", "keep")[0] == 0
    assert leaks("keep", lab_state / "labs" / "keep") == []
    assert cli("down")[0] == 0  # nothing up: no-op

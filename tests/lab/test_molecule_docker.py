"""The `docker` Molecule scenario through Podman's Docker API: the same `molecule test` a
CI runner with Docker runs, with the engine started and stopped here."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from halab.errors import InputError
from halab.lab.containerimage import release_tag
from halab.lab.engine import CNI_IPAM, check_engine, podman_service
from halab.lab.proc import run

from ..conftest import ROOT

CONTAINERS = ("hd1", "hd2")
NETWORK = "hd-molecule"
SUBNET = "198.19.40."


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root (podman, the lab's base image)"
    for tool, fix in (("podman", "apt-get install --no-install-recommends podman runc uidmap"),
                      ("docker", "a docker CLI (docker-ce-cli or Debian's docker.io)"),
                      ("molecule", "scripts/install --test"),
                      ("debootstrap", "apt-get install debootstrap")):  # fmt: skip
        if shutil.which(tool) is None:
            return f"{tool} is missing: {fix}"
    if importlib.util.find_spec("molecule_plugins.docker") is None:
        return "molecule-plugins[docker] is missing: scripts/install --test"
    return None


def _engine_objects() -> list[str]:
    """The scenario's containers and network (podman's own view, whether a service runs or not)."""
    found = [f"container {name}" for name in CONTAINERS
             if run(["podman", "container", "exists", name], check=False).returncode == 0]  # fmt: skip
    if run(["podman", "network", "exists", NETWORK], check=False).returncode == 0:
        found.append(f"network {NETWORK}")
    return found


def _leftovers() -> list[str]:
    """Everything of the scenario still on this machine: engine objects, rules, processes."""
    found = _engine_objects()
    if (CNI_IPAM / NETWORK).exists():  # dropped when the service stops
        found.append(f"address bookkeeping {CNI_IPAM / NETWORK}")
    rules = run(["iptables-save"], check=False).stdout + run(["iptables-save", "-t", "nat"], check=False).stdout
    found += [f"rule {line}" for line in rules.splitlines() if SUBNET in line]
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"conmon" in cmdline[0] and any(cmdline[i + 1] in (b"hd1", b"hd2") for i, arg in enumerate(cmdline[:-1])
                                           if arg == b"-n"):  # fmt: skip
            found.append(f"process {pid}: conmon of {b' '.join(cmdline)[:80]!r}")
    return found


def _settled_leftovers(seconds: float) -> list[str]:
    """Leftovers once the engine's exec monitors had their delay (exit_command_delay)."""
    deadline = time.monotonic() + seconds
    while (found := _leftovers()) and time.monotonic() < deadline:
        time.sleep(1)
    return found


@pytest.mark.lab
def test_docker_scenario_converges_systemd_containers_and_leaves_nothing(
    tmp_path: Path, podman_node_image: str
) -> None:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    assert _engine_objects() == [], "the scenario's containers or network exist already: molecule destroy -s docker"
    lab_cli = [sys.executable, "-m", "halab.lab.cli", "image"]
    subprocess.run([*lab_cli, "--engine", "podman"], check=True, timeout=1800)  # cached: seconds
    with podman_service(tmp_path) as service:
        env = os.environ | {"DOCKER_HOST": service.docker_host, "HALAB_DOCKER_PRIVILEGED": "false"}
        with pytest.raises(InputError, match="is missing"):  # an image the engine lacks: named, nothing made
            check_engine(service.docker_host, "localhost/halab-node:hd-missing")
        assert subprocess.run([*lab_cli, "--check"], env=env, timeout=60, check=False).returncode == 0
        try:
            started = time.monotonic()
            done = subprocess.run(["molecule", "test", "-s", "docker"], cwd=ROOT, env=env, capture_output=True,
                                  text=True, timeout=1800, check=False)  # fmt: skip
            print(f"molecule test -s docker: {time.monotonic() - started:.0f} s")
        finally:
            if _engine_objects():  # molecule destroys on failure itself; this is for a run killed at the timeout
                subprocess.run(["molecule", "destroy", "-s", "docker"], cwd=ROOT, env=env, timeout=300, check=False)
    assert not Path(f"/proc/{service.pid}").exists(), "podman system service still runs"
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    assert "idempotence" in output and "failed=0" in output
    assert _settled_leftovers(30) == []
    images = run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"]).stdout.split()
    assert release_tag("trixie") in images  # the session's node image stays until the session ends
    assert not [image for image in images if image.startswith("molecule_local/")]

"""The Podman and Docker lab backends on real containers: the fenced web cluster deploys,
serves its VIP, is a no-op the second time and fails over when the active node crashes; a
failed `lab up` removes only the containers halab made; nothing is left behind. Docker is
Podman's Docker API here (`podman system service`, started and stopped by the test).

Timings are printed (-s); bench/bench_deploy.py --backend podman records them.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from halab.lab import names, state
from halab.lab.engine import podman_service
from halab.lab.lab import FAIL_AFTER_NODES_ENV, down
from halab.lab.proc import run

from ..conftest import ROOT
from .conftest import leaks
from .helpers import halab, ok, wait_for_page

pytestmark = pytest.mark.lab

EXAMPLE = ROOT / "examples" / "web-ap-nodrbd.yml"
VIP_URL = "http://198.18.50.100/"


@pytest.fixture(autouse=True)
def _needs_podman(podman_node_image: str) -> None:
    if shutil.which("runc") is None:
        pytest.skip("runc is missing: apt-get install --no-install-recommends podman runc uidmap")


def containers(lab: str) -> list[str]:
    """Names of the containers labelled as lab `lab`'s (halab's label), running or not."""
    listed = run(["podman", "ps", "--all", "--filter", f"label=halab.lab={lab}", "--format", "{{.Names}}"])
    return listed.stdout.split()


def podman_leaks(lab: str, lab_dir: Path, settle: float = 30) -> list[str]:
    """What of lab `lab` is left, once the engine's exec monitors had their delay: a `docker
    exec` (the docker backend's /etc/hosts) leaves a conmon for exit_command_delay (10 s)."""
    deadline = time.monotonic() + settle
    while (found := leaks(lab, lab_dir) + [f"container {name}" for name in containers(lab)]) and \
            time.monotonic() < deadline:  # fmt: skip
        time.sleep(1)
    return found


@pytest.fixture(params=["podman", "docker"])
def backend(request: pytest.FixtureRequest, lab_state: Path, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:  # fmt: skip
    """The backend's name; for docker, DOCKER_HOST is a Podman API service for the test
    (which removes its labs itself while the service still answers)."""
    if request.param == "podman":
        yield "podman"
        return
    if shutil.which("docker") is None:
        pytest.skip("the docker CLI is missing: apt-get install docker.io (its daemon is not needed)")
    with podman_service(tmp_path) as service:
        monkeypatch.setenv("DOCKER_HOST", service.docker_host)
        try:
            yield "docker"
        finally:
            for name in state.lab_names():
                down(name)


def test_web_cluster_on_engine_nodes_deploys_and_fails_over(lab_state: Path, backend: str) -> None:
    started = time.monotonic()
    ok("lab", "up", str(EXAMPLE), "--backend", backend)
    print(f"\nlab up ({backend}): {time.monotonic() - started:.1f} s")
    status = ok("lab", "status", "webnd", "--json")
    assert f'"backend": "{backend}"' in status
    assert sorted(containers("webnd")) == [names.machine("webnd", "web1"), names.machine("webnd", "web2")]
    # systemd is PID 1 in the container, on the lab's address only (no engine network)
    assert ok("lab", "ssh", "web1", "--", "cat /proc/1/comm; ip -4 -o addr show scope global").split() [:1] == [
        "systemd"]
    assert "198.18.50.11/24" in ok("lab", "ssh", "web1", "--", "ip -4 -o addr show scope global")

    started = time.monotonic()
    ok("deploy", str(EXAMPLE))
    print(f"first deploy ({backend}): {time.monotonic() - started:.1f} s")
    assert wait_for_page(VIP_URL, "web1", 60) < 60
    started = time.monotonic()
    second = ok("deploy", str(EXAMPLE))
    print(f"no-op deploy ({backend}): {time.monotonic() - started:.1f} s")
    assert "no changes" in second
    ok("verify", str(EXAMPLE))

    drill = halab("drill", str(EXAMPLE), "--mode", "crash", "--timeout", "300", timeout=900)
    assert drill.returncode == 0, drill.stdout + drill.stderr
    assert "drill passed" in drill.stdout and "0 with two holders" in drill.stdout, drill.stdout
    assert "web1 fenced, executed by web2" in drill.stdout, drill.stdout  # the BMC power-cycled the container
    print(drill.stdout)
    power_log = (lab_state / "labs" / "webnd" / "nodes" / "web1" / "bmc.log").read_text()
    assert "bmc: power on" in power_log

    # later commands use the engine the nodes were made on, whatever DOCKER_HOST says now
    down = halab("lab", "down", "webnd", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert down.returncode == 0, down.stderr
    assert podman_leaks("webnd", lab_state / "labs" / "webnd") == []


def test_a_failed_up_removes_its_containers_and_never_a_foreign_one(lab_state: Path, podman_node_image: str) -> None:
    """node2's container name is taken by a container halab did not make: `lab up` fails,
    removes node1's container, and leaves the foreign one alone."""
    foreign = names.machine("pmfail", "node2")
    run(["podman", "create", "--name", foreign, "--network=none", podman_node_image, "true"])  # never started
    try:
        failed = halab("lab", "up", "--nodes", "2", "--name", "pmfail", "--backend", "podman")
        assert failed.returncode == 1 and "already in use" in failed.stderr, failed.stderr
        assert run(["podman", "container", "exists", foreign], check=False).returncode == 0
        assert podman_leaks("pmfail", lab_state / "labs" / "pmfail") == []

        injected = halab("lab", "up", "--nodes", "1", "--name", "pmfail1", "--backend", "podman",
                         env={FAIL_AFTER_NODES_ENV: "1"})  # fmt: skip
        assert injected.returncode == 1 and "injected failure" in injected.stderr, injected.stderr
        assert podman_leaks("pmfail1", lab_state / "labs" / "pmfail1") == []
    finally:
        run(["podman", "rm", "--force", foreign], check=False)


def test_docker_without_an_engine_exits_2_before_anything_is_made(lab_state: Path, tmp_path: Path) -> None:
    done = halab("lab", "up", "--nodes", "1", "--name", "pmnone", "--backend", "docker",
                 env={"DOCKER_HOST": f"unix://{tmp_path}/none.sock"})  # fmt: skip
    assert done.returncode == 2 and "no socket at" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not (lab_state / "labs" / "pmnone").exists()
    assert podman_leaks("pmnone", lab_state / "labs" / "pmnone") == []

"""The Docker API endpoint that Molecule's docker driver talks to (`DOCKER_HOST`): Docker
itself, or Podman's `podman system service`.

`check_engine` says what is missing before anything is created. `podman_service` runs a
private Podman API service with the settings this kind of host needs (see
docs/lab.md#containers-for-ci) and stops it again, by its PID only.
"""

from __future__ import annotations

import http.client
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from halab.errors import InputError, OperationFailed
from halab.lab.containerimage import engine_binary
from halab.lab.proc import run

# Only the service reads this. Root here lacks CAP_SYS_RESOURCE, so the rlimits Podman
# sets by default are refused; Debian 12's crun refuses a hybrid cgroup host, runc does
# not; and each `docker exec` (Ansible runs hundreds) would leave its conmon waiting 300 s.
CONTAINERS_CONF = """\
[containers]
default_ulimits = []

[engine]
runtime = "runc"
exit_command_delay = 10
"""
# Podman 4.3's CNI plugins leave a removed network's isolation rules and its address
# bookkeeping (host-local IPAM) behind; podman_service drops those its run added (docs/lab.md).
CNI_CHAINS = ("CNI-ISOLATION-STAGE-1", "CNI-ISOLATION-STAGE-2")
CNI_IPAM = Path("/var/lib/cni/networks")
START_FIX = ("start Docker, or Podman's API service: podman system service --time 0 unix:///run/halab-podman.sock "
             "(docs/lab.md#containers-for-ci: the containers.conf it may need)")


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def socket_path(docker_host: str) -> str:
    """The socket of a `unix://` DOCKER_HOST (the only kind checked here)."""
    if not docker_host.startswith("unix://"):
        raise InputError(f"DOCKER_HOST={docker_host}: only unix:// sockets are supported")
    return docker_host.removeprefix("unix://")


def api_status(docker_host: str, path: str, timeout: float = 5.0) -> int | None:
    """HTTP status of GET `path` on the engine's API, or None if nothing answers."""
    conn = _UnixConnection(socket_path(docker_host), timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def require_engine(docker_host: str) -> None:
    """InputError naming the fix unless an engine answers on `docker_host`."""
    path = socket_path(docker_host)
    if not Path(path).exists():
        raise InputError(f"DOCKER_HOST={docker_host}: no socket at {path}; {START_FIX}")
    if api_status(docker_host, "/_ping") != 200:
        raise InputError(f"DOCKER_HOST={docker_host}: the engine does not answer; {START_FIX}")


def check_engine(docker_host: str, image: str) -> None:
    """InputError naming the fix unless the engine answers, holds `image`, and the docker
    CLI is there (Ansible's community.docker.docker connection and testinfra call it)."""
    require_engine(docker_host)
    if api_status(docker_host, f"/images/{quote(image, safe='')}/json") != 200:
        raise InputError(f"image {image} is missing in that engine; build it: halab lab image "
                         "--engine podman (or docker: the engine behind DOCKER_HOST)")
    if shutil.which("docker") is None:
        raise InputError("the docker CLI is missing (Ansible's docker connection runs it); install docker-ce-cli "
                         "or Debian's docker.io (its daemon is not needed)")  # fmt: skip


@dataclass(frozen=True)
class Service:
    docker_host: str
    pid: int


@contextmanager
def podman_service(workdir: Path, timeout: float = 30.0) -> Iterator[Service]:
    """Run `podman system service` on a socket in `workdir` until the block ends, then stop
    it by its own PID (SIGTERM, then SIGKILL)."""
    binary = engine_binary("podman")
    conf = workdir / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    docker_host = f"unix://{workdir / 'podman.sock'}"
    log = workdir / "podman-service.log"
    rules_before, ipam_before = _cni_rules(), _ipam_dirs()
    with log.open("w") as out:
        service = subprocess.Popen([binary, "system", "service", "--time", "0", docker_host],
                                   env=os.environ | {"CONTAINERS_CONF": str(conf)}, stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while api_status(docker_host, "/_ping", timeout=2) != 200:
            if service.poll() is not None or time.monotonic() > deadline:
                raise OperationFailed(f"podman system service did not answer on {docker_host}: "
                                      f"{log.read_text()[-800:]}")
            time.sleep(0.2)
        yield Service(docker_host, service.pid)
    finally:
        _stop(service)
        _drop_stale_cni_rules(rules_before)
        _drop_stale_ipam(binary, ipam_before)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _cni_rules() -> set[str]:
    if shutil.which("iptables") is None:
        return set()
    listed = (run(["iptables", "-S", chain], check=False).stdout.splitlines() for chain in CNI_CHAINS)
    return {line for lines in listed for line in lines if line.startswith("-A ")}


def _drop_stale_cni_rules(before: set[str]) -> None:
    """Delete the CNI isolation rules added since `before` that name only bridges now gone."""
    for rule in sorted(_cni_rules() - before):
        words = shlex.split(rule)
        bridges = {words[i + 1] for i, word in enumerate(words[:-1]) if word in ("-i", "-o")}
        if bridges and not any(Path("/sys/class/net", bridge).exists() for bridge in bridges):
            run(["iptables", "-D", *words[1:]], check=False)


def _ipam_dirs() -> set[Path]:
    return set(CNI_IPAM.iterdir()) if CNI_IPAM.is_dir() else set()


def _drop_stale_ipam(binary: str, before: set[Path]) -> None:
    """Delete the IPAM directories made since `before` whose network is gone."""
    for directory in _ipam_dirs() - before:
        if run([binary, "network", "exists", directory.name], check=False).returncode != 0:
            shutil.rmtree(directory, ignore_errors=True)

"""One lab node as a Podman or Docker container: systemd as PID 1 in the node's own netns.

The container lives in the network namespace the lab plumbs for the node, so bridges,
addresses, NAT rules, cut/restore and the BMCs are the nspawn lab's, unchanged; the
engine's own network (10.88.0.0/16, 172.17.0.0/16) and port publishing are never used.
Podman joins the namespace the lab made (`--network=ns:PATH`) before the node boots;
Docker cannot join one by path, so its container starts with `--network=none` and the lab
names the container's namespace (`ip netns attach`) and plumbs it right after the start.
The root is the engine's copy-on-write layer over halab's node image (containerimage.py):
it survives a power cycle like a disk. halab removes only the containers it created, by
the IDs it recorded.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from halab.errors import OperationFailed
from halab.lab import network, node
from halab.lab.containerimage import engine_binary
from halab.lab.engine import CONTAINERS_CONF, require_engine
from halab.lab.proc import run
from halab.lab.procs import Proc, wait_gone
from halab.lab.state import LabState, NodeState

LABEL = "halab.lab"
# Beyond the engines' default set: IPaddr2 and keepalived add addresses (as on nspawn nodes).
CAPABILITIES = "NET_ADMIN"
# Docker on cgroup v2 mounts the cgroup tree read-only unless privileged: systemd needs it
# writable (Podman's systemd mode mounts it itself). Molecule's docker scenario reads it too.
PRIVILEGED_ENV = "HALAB_DOCKER_PRIVILEGED"


@dataclass(frozen=True)
class Engine:
    """How halab drives one engine's CLI."""

    name: str  # "podman" or "docker"

    @property
    def joins_netns_by_path(self) -> bool:
        return self.name == "podman"

    def run(self, st: LabState, *args: str, check: bool = True, stdin: str | None = None
            ) -> subprocess.CompletedProcess[str]:  # fmt: skip
        """`ENGINE ARGS`. Podman with the lab's settings (engine.CONTAINERS_CONF: runc, no
        rlimits); Docker on the engine the lab's nodes were made on (whatever DOCKER_HOST
        says in the shell of a later command)."""
        env = {}
        if self.name == "podman":
            conf = st.dir / "containers.conf"
            if not conf.exists():
                conf.write_text(CONTAINERS_CONF)
            env["CONTAINERS_CONF"] = str(conf)
        else:
            if st.docker_host is None:
                st.docker_host = docker_host()
                st.save()
            env["DOCKER_HOST"] = st.docker_host
        return run([engine_binary(self.name), *args], check=check, env=env, stdin=stdin)

    def check(self) -> None:
        """InputError naming the fix unless this engine can take nodes (before anything is made)."""
        engine_binary(self.name)
        if self.name == "docker":
            require_engine(docker_host())

    def network_args(self, ns: NodeState) -> list[str]:
        if self.joins_netns_by_path:
            return [f"--network=ns:/run/netns/{ns.netns}", "--systemd=always", "--no-hosts", "--dns=none"]
        privileged = os.environ.get(PRIVILEGED_ENV, "false").lower() == "true"
        return ["--network=none", "--cgroupns=private", *(["--privileged"] if privileged else [])]


def docker_host() -> str:
    return os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


def create(engine: Engine, st: LabState, ns: NodeState, image: str) -> None:
    """The node's container (once), with its identity copied into its root before boot."""
    if ns.container and _exists(engine, st, ns.container):
        return
    ns.dir(st.name).mkdir(parents=True, exist_ok=True)
    created = engine.run(st, "create", "--name", ns.machine, "--label", f"{LABEL}={st.name}",
                         f"--hostname={ns.name}", f"--cap-add={CAPABILITIES}", *engine.network_args(ns),
                         image)  # fmt: skip
    ns.container = created.stdout.strip().splitlines()[-1]
    st.save()
    with tempfile.TemporaryDirectory(prefix="halab-identity-") as tmp:
        root = Path(tmp)
        node.write_identity(st, ns, root)
        for directory, mode in ((root, 0o755), (root / "root", 0o700)):  # the copy sets these modes
            directory.chmod(mode)
        (root / node.HOST_KEY_PUB).replace(host_public_key(st, ns))
        engine.run(st, "cp", f"{root}/.", f"{ns.container}:/")


def _exists(engine: Engine, st: LabState, container: str) -> bool:
    return engine.run(st, "container", "inspect", container, check=False).returncode == 0


def boot(engine: Engine, st: LabState, ns: NodeState) -> None:
    """Start the container; record its PID 1 (SIGKILL to it is a power cut). Docker: name
    its namespace for the lab to plumb, and put the lab's /etc/hosts over the engine's."""
    if ns.container is None:
        raise OperationFailed(f"{ns.name}: no container to start")
    engine.run(st, "start", ns.container)
    pid = _pid(engine, st, ns.container)
    if not pid:
        raise OperationFailed(f"{ns.name}: the container stopped right after its start: {diagnostics(engine, st, ns)}")
    ns.leader = Proc.of(pid)
    st.save()
    if not engine.joins_netns_by_path:
        network.attach_netns(ns.netns, pid)
        engine.run(st, "exec", "-i", ns.container, "sh", "-c", "cat > /etc/hosts", stdin=node.hosts_file(st))


def _pid(engine: Engine, st: LabState, container: str) -> int:
    found = engine.run(st, "container", "inspect", "--format", "{{.State.Pid}}", container, check=False)
    return int(found.stdout.strip() or 0) if found.returncode == 0 else 0


def running(ns: NodeState) -> bool:
    return bool(ns.leader and ns.leader.alive())


def power_off(engine: Engine, st: LabState, ns: NodeState) -> None:
    """SIGKILL the container's PID 1 (its PID namespace dies with it), then have the engine
    record the stop, so that the next start really starts it."""
    if ns.leader is not None:
        ns.leader.kill()
        if not wait_gone([ns.leader], timeout=15):
            raise OperationFailed(f"{ns.name}: PID {ns.leader.pid} survives SIGKILL")
    ns.leader = None
    if ns.container is not None:
        engine.run(st, "stop", "--time", "0", ns.container, check=False)


def remove(engine: Engine, st: LabState, ns: NodeState) -> None:
    """Remove the container halab created (by its ID: never another one of that name)."""
    if ns.container is None:
        return
    engine.run(st, "rm", "--force", ns.container, check=False)
    if _exists(engine, st, ns.container):
        raise OperationFailed(f"{ns.name}: {engine.name} could not remove container {ns.container[:12]}")
    ns.container = None


def host_public_key(st: LabState, ns: NodeState) -> Path:
    return ns.dir(st.name) / "ssh_host_ed25519_key.pub"


def diagnostics(engine: Engine, st: LabState, ns: NodeState) -> str:
    if ns.container is None:
        return "(no container)"
    state = engine.run(st, "container", "inspect", "--format", "{{json .State}}", ns.container, check=False)
    logs = engine.run(st, "logs", "--tail", "20", ns.container, check=False)
    return f"container state: {state.stdout.strip()}\n{logs.stdout[-1200:]}{logs.stderr[-300:]}"

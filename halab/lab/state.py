"""Per-lab state on disk (state_dir()/labs/NAME/state.json): everything `down` must undo.

A resource is recorded *before* it is created, so a crash or Ctrl-C at any point leaves a
state file from which `down` removes exactly what exists, and nothing else.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from halab.lab.procs import Proc
from halab.lab.spec import LabSpec
from halab.paths import state_dir


def labs_dir() -> Path:
    return state_dir() / "labs"


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) and make it mode 0700: lab state holds private keys."""
    path.mkdir(parents=True, exist_ok=True)
    for each in (path, *[p for p in path.parents if p == labs_dir() or p == state_dir()]):
        os.chmod(each, 0o700)
    return path


def lab_dir(name: str) -> Path:
    return labs_dir() / name


@dataclass
class NodeState:
    name: str
    index: int
    netns: str
    machine: str
    veths: list[str]
    mounted: bool = False
    nspawn: Proc | None = None
    leader: Proc | None = None  # the container's PID 1: killing it kills the whole node
    backend: str = "container"
    qemu: Proc | None = None  # VM nodes: the QEMU process (killing it is a power cut)
    image: str | None = None  # VM nodes: the baked image their overlay sits on (restore boots it)
    cut: list[int] = field(default_factory=list)  # links pulled by `cut`: pulled until `restore`
    bmc: Proc | None = None  # the node's virtual BMC (halab.lab.bmc)
    container: str | None = None  # podman nodes: the ID of the container halab created

    def dir(self, lab: str) -> Path:
        return lab_dir(lab) / "nodes" / self.name

    def root(self, lab: str) -> Path:
        return self.dir(lab) / "root"


@dataclass
class LabState:
    spec: LabSpec
    source: str | None = None
    bridges: list[str] = field(default_factory=list)
    rules: list[list[str]] = field(default_factory=list)
    nodes: dict[str, NodeState] = field(default_factory=dict)
    proxy: Proc | None = None
    set_ip_forward: bool = False
    unplugged: list[list[str]] = field(default_factory=list)  # DROP rules of unplugged BMCs
    docker_host: str | None = None  # docker nodes: the engine they were made on (DOCKER_HOST then)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def dir(self) -> Path:
        return lab_dir(self.name)

    @property
    def key(self) -> Path:
        return self.dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.dir / "known_hosts"

    def save(self) -> None:
        """Write state.json atomically; the lab's directory (keys, identities) is root's only."""
        private_dir(self.dir)
        tmp = self.dir / "state.json.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(self.to_json(), indent=1))
        os.replace(tmp, self.dir / "state.json")

    def to_json(self) -> dict[str, Any]:
        return {
            "spec": self.spec.to_json(),
            "source": self.source,
            "bridges": self.bridges,
            "iptables": self.rules,
            "ssh_key": str(self.key),
            "known_hosts": str(self.known_hosts),
            "proxy": self.proxy.to_json() if self.proxy else None,
            "set_ip_forward": self.set_ip_forward,
            "unplugged": self.unplugged,
            "docker_host": self.docker_host,
            "nodes": {
                n.name: {
                    "index": n.index,
                    "netns": n.netns,
                    "machine": n.machine,
                    "veths": n.veths,
                    "mount": str(n.root(self.name)) if n.mounted else None,
                    "nspawn": n.nspawn.to_json() if n.nspawn else None,
                    "leader": n.leader.to_json() if n.leader else None,
                    "backend": n.backend,
                    "qemu": n.qemu.to_json() if n.qemu else None,
                    "image": n.image,
                    "cut": n.cut,
                    "bmc": n.bmc.to_json() if n.bmc else None,
                    "container": n.container,
                }
                for n in self.nodes.values()
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LabState:
        return cls(
            spec=LabSpec.from_json(data["spec"]),
            source=data.get("source"),
            bridges=data["bridges"],
            rules=data["iptables"],
            proxy=Proc.from_json(data.get("proxy")),
            set_ip_forward=data.get("set_ip_forward", False),
            unplugged=data.get("unplugged", []),
            docker_host=data.get("docker_host"),
            nodes={
                name: NodeState(
                    name=name,
                    index=n["index"],
                    netns=n["netns"],
                    machine=n["machine"],
                    veths=n["veths"],
                    mounted=n["mount"] is not None,
                    nspawn=Proc.from_json(n["nspawn"]),
                    leader=Proc.from_json(n["leader"]),
                    backend=n.get("backend", "container"),
                    qemu=Proc.from_json(n.get("qemu")),
                    image=n.get("image"),
                    cut=n.get("cut", []),
                    bmc=Proc.from_json(n.get("bmc")),
                    container=n.get("container"),
                )
                for name, n in data["nodes"].items()
            },
        )


def load(name: str) -> LabState | None:
    path = lab_dir(name) / "state.json"
    if not path.exists():
        return None
    return LabState.from_json(json.loads(path.read_text()))


def lab_names() -> list[str]:
    if not labs_dir().is_dir():
        return []
    return sorted(p.parent.name for p in labs_dir().glob("*/state.json"))


@contextlib.contextmanager
def locked(name: str) -> Iterator[None]:
    """Exclusive lock on one lab (up/down/fault verbs never interleave)."""
    lock = labs_dir() / ".locks" / f"{name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield

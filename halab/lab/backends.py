"""How a lab node exists: the one interface between the lab's life cycle and its node kinds.

`lab.py` (up, crash, cut, restore, down), the virtual BMCs and the status view ask a
node's backend; only the backends know whether a node is a systemd-nspawn container
(`node.py`), a Podman or Docker container (`enginenode.py`) or a QEMU VM (`vm.py`). Every backend plugs
its nodes into the same lab bridges with one host-side link per network, named
`NodeState.veths[link]`. An image is a directory (nspawn, VM) or an engine's tag (podman, docker).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from halab.lab import containerimage, enginenode, image, network, node, vm, vmimage
from halab.lab.state import LabState, NodeState


class Backend(Protocol):
    """What the lab needs of a kind of node."""

    kind: str
    ssh_timeout: float
    building_message: str
    plumbs_after_boot: bool  # its netns exists only once the node runs (Docker)

    def image_ready(self, release: str) -> bool: ...
    def ensure_image(self, release: str) -> Any: ...
    def plumb(self, st: LabState, ns: NodeState, mtu: int) -> None: ...
    def create(self, st: LabState, ns: NodeState, image: Any, mtu: int) -> None: ...
    def boot(self, st: LabState, ns: NodeState) -> None: ...
    def running(self, ns: NodeState) -> bool: ...
    def power_off(self, st: LabState, ns: NodeState) -> None: ...
    def remove(self, st: LabState, ns: NodeState) -> None: ...
    def pid(self, ns: NodeState) -> int | None: ...
    def host_public_key(self, st: LabState, ns: NodeState) -> Path: ...
    def alive(self, ns: NodeState) -> Callable[[], bool] | None: ...
    def diagnostics(self, st: LabState, ns: NodeState) -> str: ...
    def connection_vars(self) -> dict[str, Any]: ...
    def held_addresses(self, ns: NodeState) -> list[str] | None: ...


class ContainerBackend:
    """systemd-nspawn in its own network namespace, root on an overlay of the base image."""

    kind = "container"
    ssh_timeout = 90.0
    plumbs_after_boot = False
    building_message = "building the Debian base image (once per machine, about 80 s)..."

    def image_ready(self, release: str) -> bool:
        return image.image_ready(release)

    def ensure_image(self, release: str) -> Path:
        return image.ensure_image(release)

    def plumb(self, st: LabState, ns: NodeState, mtu: int) -> None:
        node.plumb(st, ns, mtu)

    def create(self, st: LabState, ns: NodeState, base: Path, mtu: int) -> None:
        node.mount_root(st, ns, base)
        node.write_identity(st, ns, ns.root(st.name))

    def boot(self, st: LabState, ns: NodeState) -> None:
        node.boot(st, ns)

    def running(self, ns: NodeState) -> bool:
        return node.running(ns)

    def power_off(self, st: LabState, ns: NodeState) -> None:
        node.power_off(ns)

    def remove(self, st: LabState, ns: NodeState) -> None:
        if ns.mounted:
            node.unmount(st, ns)

    def pid(self, ns: NodeState) -> int | None:
        return ns.nspawn.pid if ns.nspawn else None

    def host_public_key(self, st: LabState, ns: NodeState) -> Path:
        return ns.root(st.name) / node.HOST_KEY_PUB

    def alive(self, ns: NodeState) -> Callable[[], bool] | None:
        return None

    def diagnostics(self, st: LabState, ns: NodeState) -> str:
        log = ns.dir(st.name) / "nspawn.log"
        return log.read_text(errors="replace")[-1500:] if log.exists() else "(no nspawn log)"

    def connection_vars(self) -> dict[str, Any]:
        # A container shares the host kernel: without ip_vs keepalived would exit FATAL with
        # virtual servers configured; VRRP alone still runs (the role warns).
        return {} if network.host_has_ip_vs() else {"keepalived_ipvs_enabled": False}

    def held_addresses(self, ns: NodeState) -> list[str] | None:
        """Read from the host: works while its cables are cut; none while it is off."""
        return network.netns_addresses(ns.netns) if network.netns_exists(ns.netns) else []


class VmBackend:
    """QEMU with Debian's stock kernel (ip_vs, drbd): a qcow2 overlay of the baked image."""

    kind = "vm"
    ssh_timeout = vm.SSH_TIMEOUT
    plumbs_after_boot = False
    building_message = "building the VM image: stock kernel + HA packages (once per machine, about 150 s)..."

    def image_ready(self, release: str) -> bool:
        return vmimage.image_ready(release)

    def ensure_image(self, release: str) -> Path:
        return vmimage.ensure_vm_image(release)

    def plumb(self, st: LabState, ns: NodeState, mtu: int) -> None:
        vm.plumb(st, ns, mtu)

    def create(self, st: LabState, ns: NodeState, base: Path, mtu: int) -> None:
        vm.prepare(st, ns, base, mtu)
        ns.image = str(base)  # restore boots the image the overlay was made on
        st.save()

    def boot(self, st: LabState, ns: NodeState) -> None:
        vm.boot(st, ns, Path(ns.image) if ns.image else vmimage.image_dir(st.spec.node(ns.name).release))

    def running(self, ns: NodeState) -> bool:
        return vm.running(ns)

    def power_off(self, st: LabState, ns: NodeState) -> None:
        vm.power_off(ns)

    def remove(self, st: LabState, ns: NodeState) -> None:
        pass  # its overlay and files live in the lab's directory

    def pid(self, ns: NodeState) -> int | None:
        return ns.qemu.pid if ns.qemu else None

    def host_public_key(self, st: LabState, ns: NodeState) -> Path:
        return vm.host_key(st, ns).with_suffix(".pub")

    def alive(self, ns: NodeState) -> Callable[[], bool] | None:
        return lambda: vm.running(ns)

    def diagnostics(self, st: LabState, ns: NodeState) -> str:
        return f"last console lines of {ns.name}:\n{vm.console_tail(st, ns)}"

    def connection_vars(self) -> dict[str, Any]:
        # A new SSH connection to a TCG guest costs seconds: keep the master longer.
        return {"ansible_timeout": 60}

    def held_addresses(self, ns: NodeState) -> list[str] | None:
        return None  # only the guest knows


class EngineBackend(ContainerBackend):
    """A Podman or Docker container (systemd as PID 1) in the netns the lab plumbs for it."""

    def __init__(self, engine: str) -> None:
        self.engine = enginenode.Engine(engine)
        self.kind = engine
        self.plumbs_after_boot = not self.engine.joins_netns_by_path
        self.building_message = f"importing the Debian base into {engine} (once per recipe; the base: about 80 s)..."

    def image_ready(self, release: str) -> bool:
        self.engine.check()
        return containerimage.has_image(containerimage.engine_binary(self.kind), containerimage.image_tag(release))

    def ensure_image(self, release: str) -> str:
        return containerimage.export_image(release, self.kind, say=lambda _message: None)

    def create(self, st: LabState, ns: NodeState, image: str, mtu: int) -> None:
        enginenode.create(self.engine, st, ns, image)

    def boot(self, st: LabState, ns: NodeState) -> None:
        enginenode.boot(self.engine, st, ns)

    def running(self, ns: NodeState) -> bool:
        return enginenode.running(ns)

    def power_off(self, st: LabState, ns: NodeState) -> None:
        enginenode.power_off(self.engine, st, ns)

    def remove(self, st: LabState, ns: NodeState) -> None:
        enginenode.remove(self.engine, st, ns)

    def pid(self, ns: NodeState) -> int | None:
        return ns.leader.pid if ns.leader else None

    def host_public_key(self, st: LabState, ns: NodeState) -> Path:
        return enginenode.host_public_key(st, ns)

    def diagnostics(self, st: LabState, ns: NodeState) -> str:
        return enginenode.diagnostics(self.engine, st, ns)


BACKENDS: dict[str, Backend] = {
    b.kind: b for b in (ContainerBackend(), EngineBackend("podman"), EngineBackend("docker"), VmBackend())
}


def backend_of(kind: str) -> Backend:
    return BACKENDS[kind]

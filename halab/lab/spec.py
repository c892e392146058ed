"""What a lab is made of: networks and nodes, from a cluster file or generated.

Everything else in `halab.lab` works on `LabSpec` only; `lab_spec_from_cluster` is the one
place that knows the cluster model (duck-typed: name, networks, nodes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from halab.errors import InputError
from halab.lab.image import DEFAULT_RELEASE, RELEASES
from halab.model import lab_host_address

LAB_RANGE = IPv4Network("198.18.0.0/15")
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
HOSTNAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
IFNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
BACKENDS = ("container", "podman", "docker", "vm")
# Extra VM disks: /dev/vdb.. (the root disk is /dev/vda).
VM_DISK_RE = re.compile(r"^/dev/vd([b-z])$")


@dataclass(frozen=True)
class NetSpec:
    """One lab network: a bridge on the host; `host_address` is the host's side of it."""

    name: str
    subnet: IPv4Network
    interface: str
    host_address: IPv4Address


@dataclass(frozen=True)
class NodeSpec:
    """One node: its hostname and its address on each network (by network name)."""

    name: str
    addresses: dict[str, IPv4Address]
    roles: tuple[str, ...] = field(default=())
    backend: str = "container"  # systemd-nspawn; "podman"/"docker": an engine's container; "vm": QEMU
    disks: tuple[str, ...] = field(default=())  # VM only: blank disks /dev/vdb, /dev/vdc, ...
    release: str = DEFAULT_RELEASE  # the Debian release it runs (image.RELEASES)

    @property
    def is_vm(self) -> bool:
        return self.backend == "vm"


@dataclass(frozen=True)
class BmcSpec:
    """The nodes' virtual BMCs: node i answers at port `port + i` (and its PDU outlet at
    `pdu_port + i`) on the primary network's host address. `password` is a secret source
    ({"env": NAME} or {"file": PATH}); None: the lab generates one (labs/<lab>/bmc-password)."""

    username: str = "admin"
    password: dict[str, str] | None = None
    port: int = 6230
    pdu_port: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"username": self.username, "password": self.password, "port": self.port, "pdu_port": self.pdu_port}


@dataclass(frozen=True)
class LabSpec:
    """A whole lab. The first network is primary: SSH, NAT, the BMCs, /etc/hosts. `routed`
    groups networks the host routes between (a routed corosync link's: one room each); a
    node that is not on the primary network is reached on, and routes out of, the first
    network routed to it that it is on (its home)."""

    name: str
    networks: list[NetSpec]
    nodes: list[NodeSpec]
    vm_memory_mb: int = 1024
    vm_disk_mb: int = 256
    bmc: BmcSpec = field(default_factory=BmcSpec)
    routed: list[tuple[str, ...]] = field(default_factory=list)

    @property
    def backends(self) -> set[str]:
        return {n.backend for n in self.nodes}

    @property
    def primary(self) -> NetSpec:
        return self.networks[0]

    @property
    def uplinks(self) -> list[NetSpec]:
        """The networks nodes are reached on and leave the lab through: the primary one and
        the networks routed to it."""
        group = next((g for g in self.routed if self.primary.name in g), (self.primary.name,))
        return [net for net in self.networks if net.name in group]

    def home(self, node: NodeSpec) -> NetSpec:
        """The network SSH, /etc/hosts and the default route use for `node`."""
        return next(net for net in self.uplinks if net.name in node.addresses)

    def address(self, node: NodeSpec) -> IPv4Address:
        """Where the host reaches `node`: its address on its home network."""
        return node.addresses[self.home(node).name]

    def routes(self, node: NodeSpec) -> list[tuple[IPv4Network, IPv4Address]]:
        """(subnet, via) for each network routed to one the node is on: through the host's
        side of the node's network in that group."""
        out = []
        for group in self.routed:
            mine = next((self.network(name) for name in group if name in node.addresses), None)
            if mine is not None:
                out += [(self.network(name).subnet, mine.host_address) for name in group if name not in node.addresses]
        return out

    def network(self, name: str) -> NetSpec:
        return next(net for net in self.networks if net.name == name)

    def node(self, name: str) -> NodeSpec:
        for node in self.nodes:
            if node.name == name:
                return node
        known = ", ".join(n.name for n in self.nodes)
        raise InputError(f"lab {self.name!r} has no node {name!r} (nodes: {known})")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "networks": [
                {
                    "name": n.name,
                    "subnet": str(n.subnet),
                    "interface": n.interface,
                    "host_address": str(n.host_address),
                }
                for n in self.networks
            ],
            "nodes": [
                {
                    "name": n.name,
                    "addresses": {k: str(v) for k, v in n.addresses.items()},
                    "roles": list(n.roles),
                    "backend": n.backend,
                    "disks": list(n.disks),
                    "release": n.release,
                }
                for n in self.nodes
            ],
            "vm_memory_mb": self.vm_memory_mb,
            "vm_disk_mb": self.vm_disk_mb,
            "bmc": self.bmc.to_json(),
            "routed": [list(group) for group in self.routed],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LabSpec:
        return cls(
            name=data["name"],
            networks=[
                NetSpec(
                    n["name"],
                    IPv4Network(n["subnet"]),
                    n["interface"],
                    IPv4Address(n["host_address"]),
                )
                for n in data["networks"]
            ],
            nodes=[
                NodeSpec(
                    n["name"],
                    {k: IPv4Address(v) for k, v in n["addresses"].items()},
                    tuple(n["roles"]),
                    n.get("backend", "container"),
                    tuple(n.get("disks", ())),
                    n.get("release", DEFAULT_RELEASE),
                )
                for n in data["nodes"]
            ],
            vm_memory_mb=data.get("vm_memory_mb", 1024),
            vm_disk_mb=data.get("vm_disk_mb", 256),
            bmc=BmcSpec(**data.get("bmc", {})),
            routed=[tuple(group) for group in data.get("routed", [])],
        )


def check_lab_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise InputError(f"lab name {name!r} is invalid: use 1-31 of a-z, 0-9 and '-', starting with a letter")
    return name


def _release(settings: Any, node: str, override: str | None) -> str:
    """The node's release: --release, else lab.releases[node], else lab.release."""
    chosen = override or (getattr(settings, "releases", None) or {}).get(node) or getattr(settings, "release", None)
    release = chosen or DEFAULT_RELEASE
    if release not in RELEASES:
        raise InputError(f"release {release!r}: the lab builds {', '.join(RELEASES)}")
    return release


def lab_spec_from_cluster(
    cluster: Any, name: str | None = None, backend: str | None = None, release: str | None = None
) -> LabSpec:
    """Build and validate the LabSpec of a cluster model object (`halab.model.Cluster`).

    `backend` "vm" makes every node a VM; "container" (nspawn), "podman", "docker" or None keeps
    the file's `lab.vm_nodes` as VMs and makes the rest containers of that kind. A VM gets one blank disk for each
    DRBD backing disk the file names for it (/dev/vdb...; /dev/vda is its root).
    """
    if backend is not None and backend not in BACKENDS:
        raise InputError(f"--backend: {backend!r} is not one of {', '.join(BACKENDS)}")
    settings = getattr(cluster, "lab", None)
    vm_names = set(getattr(settings, "vm_nodes", None) or ())
    if backend == "vm":
        vm_names = {node.name for node in cluster.nodes}
    container = backend if backend in ("container", "podman", "docker") else "container"
    disks = _drbd_disks(cluster)
    networks = []
    for i, net in enumerate(cluster.networks):
        subnet = IPv4Network(net.subnet)
        _check_subnet(f"networks[{i}].subnet", subnet)
        gateway = getattr(net, "gateway", None)
        if gateway is not None:
            gateway = IPv4Address(gateway)
            _check_in(f"networks[{i}].gateway", gateway, subnet)
        networks.append(NetSpec(net.name, subnet, net.interface or f"eth{i}", lab_host_address(subnet, gateway)))
    nodes = [
        NodeSpec(
            node.name,
            {net: IPv4Address(addr) for net, addr in node.addresses.items()},
            tuple(getattr(node, "roles", ()) or ()),
            "vm" if node.name in vm_names else container,
            _vm_disks(node.name, disks.get(node.name, [])) if node.name in vm_names else (),
            _release(settings, node.name, release),
        )
        for node in cluster.nodes
    ]
    spec = LabSpec(
        check_lab_name(name or cluster.name),
        networks,
        nodes,
        vm_memory_mb=getattr(settings, "vm_memory_mb", 1024),
        vm_disk_mb=getattr(settings, "vm_disk_mb", 256),
        bmc=_bmc_spec(getattr(settings, "bmc", None)),
        routed=[tuple(link.networks) for link in getattr(cluster, "links", ()) if len(link.networks) > 1],
    )
    validate(spec)
    return spec


def _bmc_spec(settings: Any) -> BmcSpec:
    """`lab.bmc` of the cluster file (duck-typed: username, password {env}/{file}, ports)."""
    if settings is None:
        return BmcSpec()
    source = settings.password
    password = None if source is None else {key: str(getattr(source, key)) for key in ("env", "file")
                                            if getattr(source, key, None) is not None}  # fmt: skip
    return BmcSpec(settings.username, password, settings.port, settings.pdu_port)


def _drbd_disks(cluster: Any) -> dict[str, list[tuple[str, str]]]:
    """node -> [(field, backing disk)] from `drbd.resources[].disk/disks` and their volumes',
    on the nodes each resource replicates between (as the inventory configures them:
    `Cluster.drbd_nodes`)."""
    drbd = getattr(cluster, "drbd", None)
    out: dict[str, list[tuple[str, str]]] = {}
    for i, res in enumerate(getattr(drbd, "resources", None) or []):
        for volume, (disk, disks) in enumerate(res.backing_disks()):
            base = f"drbd.resources[{i}]" + (f".volumes[{volume - 1}]" if volume else "")
            for node in cluster.drbd_nodes(res):
                where = f"{base}.disks.{node}" if node in disks else f"{base}.disk"
                if disks.get(node, disk):
                    out.setdefault(node, []).append((where, disks.get(node, disk)))
    return out


def _vm_disks(node: str, wanted: list[tuple[str, str]]) -> tuple[str, ...]:
    """Blank disks /dev/vdb../dev/vdX so that every named backing disk exists on the VM."""
    last = "a"
    for where, disk in wanted:
        match = VM_DISK_RE.match(disk)
        if not match:
            raise InputError(
                f"{where}: {disk} cannot exist on lab VM {node}: its extra disks are /dev/vdb../dev/vdz"
            )
        last = max(last, match.group(1))
    return tuple(f"/dev/vd{chr(c)}" for c in range(ord("b"), ord(last) + 1))


def generic_spec(
    name: str, count: int, subnet: IPv4Network, backend: str = "container", release: str = DEFAULT_RELEASE
) -> LabSpec:
    """`count` nodes node1..N on one network `lab` (eth0); the host takes the first address."""
    if not 1 <= count <= 50:
        raise InputError(f"--nodes: {count} is out of range (1-50)")
    hosts = subnet.hosts()
    net = NetSpec("lab", subnet, "eth0", next(hosts))
    if release not in RELEASES:
        raise InputError(f"--release: {release!r} is not one of {', '.join(RELEASES)}")
    nodes = [NodeSpec(f"node{i}", {"lab": next(hosts)}, backend=backend, release=release) for i in range(1, count + 1)]
    spec = LabSpec(check_lab_name(name), [net], nodes)
    validate(spec)
    return spec


def _check_subnet(field_name: str, subnet: IPv4Network) -> None:
    if not subnet.subnet_of(LAB_RANGE):
        raise InputError(f"{field_name}: {subnet} is outside {LAB_RANGE}; a lab needs addresses in {LAB_RANGE}")
    if subnet.prefixlen > 29:
        raise InputError(f"{field_name}: {subnet} is too small for a lab (at most /29)")


def _check_in(field_name: str, address: IPv4Address, subnet: IPv4Network) -> None:
    if address not in LAB_RANGE:
        raise InputError(f"{field_name}: {address} is outside {LAB_RANGE}; a lab needs addresses in {LAB_RANGE}")
    if address not in subnet or address in (subnet.network_address, subnet.broadcast_address):
        raise InputError(f"{field_name}: {address} is not a host address of {subnet}")


def _check_bmc_ports(spec: LabSpec) -> None:
    count = len(spec.nodes)
    ranges = {"lab.bmc.port": spec.bmc.port, "lab.bmc.pdu_port": spec.bmc.pdu_port}
    used = {field_name: range(first, first + count) for field_name, first in ranges.items() if first is not None}
    for field_name, ports in used.items():
        if ports.stop - 1 > 65535:
            raise InputError(f"{field_name}: {ports.start} + {count} nodes runs past port 65535")
        if 3142 in ports:
            raise InputError(f"{field_name}: ports {ports.start}-{ports.stop - 1} include the apt proxy's 3142")
    if len(used) == 2 and set(used["lab.bmc.port"]) & set(used["lab.bmc.pdu_port"]):
        raise InputError("lab.bmc.pdu_port: the PDU ports overlap the BMC ports (one port per node each)")


def validate(spec: LabSpec) -> None:
    """Raise InputError naming the offending field if the lab cannot be built."""
    _check_bmc_ports(spec)
    if not spec.networks:
        raise InputError("networks: a lab needs at least one network")
    if not spec.nodes:
        raise InputError("nodes: a lab needs at least one node")
    for i, net in enumerate(spec.networks):
        _check_subnet(f"networks[{i}].subnet", net.subnet)
        _check_in(f"networks[{i}].gateway", net.host_address, net.subnet)
        if not IFNAME_RE.match(net.interface):
            raise InputError(f"networks[{i}].interface: {net.interface!r} is not a valid interface name")
        for j, other in enumerate(spec.networks[:i]):
            if net.subnet.overlaps(other.subnet):
                raise InputError(f"networks[{i}].subnet: {net.subnet} overlaps networks[{j}] ({other.subnet})")
            if net.interface == other.interface:
                raise InputError(f"networks[{i}].interface: {net.interface} is also used by networks[{j}]")
    by_net = {net.name: net for net in spec.networks}
    seen_names: set[str] = set()
    seen_addrs: dict[IPv4Address, str] = {}
    for j, node in enumerate(spec.nodes):
        if not HOSTNAME_RE.match(node.name):
            raise InputError(f"nodes[{j}].name: {node.name!r} is not a valid hostname")
        if node.name in seen_names:
            raise InputError(f"nodes[{j}].name: {node.name!r} appears twice")
        seen_names.add(node.name)
        if node.backend not in BACKENDS:
            raise InputError(f"nodes[{j}].backend: {node.backend!r} is not one of {', '.join(BACKENDS)}")
        if node.disks and not node.is_vm:
            raise InputError(f"nodes[{j}].disks: only VM nodes have extra disks")
        if len(node.addresses) > 8:
            raise InputError(f"nodes[{j}].addresses: at most 8 networks per node")
        uplinks = [net.name for net in spec.uplinks]
        if not any(name in node.addresses for name in uplinks):
            raise InputError(
                f"nodes[{j}].addresses: no address on the primary network {spec.primary.name!r}"
                + (f" or a network routed to it ({', '.join(uplinks[1:])})" if len(uplinks) > 1 else "")
            )
        if node.is_vm and spec.routed:
            raise InputError(f"nodes[{j}]: a lab with routed networks has container nodes only")
        for net_name, addr in node.addresses.items():
            where = f"nodes[{j}].addresses.{net_name}"
            if net_name not in by_net:
                raise InputError(f"{where}: there is no network {net_name!r}")
            net = by_net[net_name]
            _check_in(where, addr, net.subnet)
            if addr == net.host_address:
                raise InputError(
                    f"{where}: {addr} is the host side (gateway) of network {net_name!r}; "
                    "give the node another address or set the network's gateway"
                )
            if addr in seen_addrs:
                raise InputError(f"{where}: {addr} is also used by {seen_addrs[addr]}")
            seen_addrs[addr] = where

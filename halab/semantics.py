"""Cross-field rules of a cluster file: references, addressing, quorum, fencing, secrets.

Each rule yields (field path, message, hint); `check_semantics` runs them all so the
operator sees every problem at once.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any

from .formats import host_address, interval_us
from .model import (
    PRIMITIVE_TYPES,
    ApacheResource,
    CloneResource,
    Cluster,
    Colocation,
    CorosyncLink,
    DrbdResource,
    Fencing,
    FilesystemResource,
    GroupResource,
    HealthCheck,
    IpResource,
    Location,
    Order,
    PrimitiveResource,
    RealServer,
    ResourceSet,
    ServiceFile,
    TrackedInterface,
    VirtualServer,
    Vrrp,
    lab_host_address,
)
from .naming import derived_resource_names
from .rolevars import fence_agents
from .secrets import validation_findings as secret_findings

Finding = tuple[tuple[str | int, ...], str, str]
# Fence agent parameters that name the device to talk to (fence_ipmilan, fence_apc, ...).
FENCE_ADDRESS_PARAMS = ("ip", "ipaddr", "hostname")
Rule = Callable[[Cluster], Iterable[Finding]]


def _duplicates(values: Iterable[Any]) -> set[Any]:
    return {value for value, count in Counter(values).items() if count > 1}


def _names(cluster: Cluster) -> Iterator[Finding]:
    """Network and node names are unique (every other rule looks things up by name)."""
    for i, name in _indexed_duplicates([net.name for net in cluster.networks]):
        yield ("networks", i, "name"), f"network name '{name}' is used twice", "give each network its own name"
    for i, name in _indexed_duplicates([node.name for node in cluster.nodes]):
        yield ("nodes", i, "name"), f"node name '{name}' is used twice", "node names must be unique"


def _nodes(cluster: Cluster) -> Iterator[Finding]:
    networks = {net.name: net for net in cluster.networks}
    for i, net in enumerate(cluster.networks):
        for j, other in enumerate(cluster.networks[:i]):
            if net.subnet.overlaps(other.subnet):
                yield (
                    ("networks", i, "subnet"),
                    f"{net.subnet} overlaps networks[{j}] ({other.subnet})",
                    "networks must be disjoint",
                )
        if net.gateway is not None and net.gateway not in net.subnet:
            yield ("networks", i, "gateway"), f"{net.gateway} is outside {net.subnet}", "pick an address in the subnet"
    for i, node_id in _indexed_duplicates([n.id for n in cluster.nodes if n.id is not None]):
        yield ("nodes", i, "id"), f"node id {node_id} is used twice", "node ids must be unique"
    seen: dict[IPv4Address, str] = {}
    for i, node in enumerate(cluster.nodes):
        if node.id is not None and "member" not in node.roles:
            yield ("nodes", i, "id"), "only cluster members have a corosync node id", "remove 'id'"
        for j, role in _indexed_duplicates(node.roles):
            yield ("nodes", i, "roles", j), f"role '{role}' is listed twice", "list each role once"
        if node.leaving and "member" not in node.roles:
            yield ("nodes", i, "leaving"), "only a cluster member can leave the cluster", "remove 'leaving'"
        if "arbitrator" in node.roles and len(node.roles) > 1:
            yield (
                ("nodes", i, "roles"),
                "an arbitrator cannot also be a member, director or realserver",
                "the qdevice arbitrator must be a separate host",
            )
        if not set(cluster.primary_networks) & set(node.addresses):
            yield (
                ("nodes", i, "addresses"),
                f"no address on the primary network {' or '.join(map(repr, cluster.primary_networks))}",
                "every node needs an address on the first network, or on another network of its routed "
                "corosync link (SSH, package mirror)",
            )
        for net_name, address in node.addresses.items():
            path = ("nodes", i, "addresses", net_name)
            net = networks.get(net_name)
            if net is None:
                yield path, f"unknown network '{net_name}'", f"use one of: {', '.join(networks)}"
                continue
            if address not in net.subnet or address in (net.subnet.network_address, net.subnet.broadcast_address):
                yield (
                    path,
                    f"{address} is not a host address of {net_name} ({net.subnet})",
                    "fix the address or the subnet",
                )
            if net.gateway == address:
                yield path, f"{address} is the gateway of {net_name}", "pick another address"
            if address in seen:
                yield path, f"{address} is already used by {seen[address]}", "addresses must be unique"
            seen[address] = node.name


def _indexed_duplicates(values: list[Any]) -> Iterator[tuple[int, Any]]:
    seen: set[Any] = set()
    for index, value in enumerate(values):
        if value in seen:
            yield index, value
        seen.add(value)


def _node_placement(cluster: Cluster) -> Iterator[Finding]:
    """Node attributes and capacities are Pacemaker's: members only, one way to set the strategy."""
    for i, node in enumerate(cluster.nodes):
        for field in ("attributes", "utilization"):
            if getattr(node, field) and "member" not in node.roles:
                yield ("nodes", i, field), f"only cluster members have Pacemaker node {field}", f"remove {field}"
    if cluster.pacemaker.placement_strategy is not None and "placement-strategy" in cluster.pacemaker.properties:
        yield (
            ("pacemaker", "properties", "placement-strategy"),
            "placement-strategy is set twice (pacemaker.placement_strategy too)",
            "keep pacemaker.placement_strategy",
        )


def _weighs_utilization(cluster: Cluster) -> bool:
    """Whether the placement strategy (the field, or the property written by hand) is not default."""
    pacemaker = cluster.pacemaker
    return (pacemaker.placement_strategy or pacemaker.properties.get("placement-strategy", "default")) != "default"


def _utilization_counts(cluster: Cluster) -> Iterator[Finding]:
    """Capacities and needs only count under a placement strategy other than default."""
    if _weighs_utilization(cluster):
        return
    users = [("nodes", i, "utilization") for i, node in enumerate(cluster.nodes) if node.utilization]
    users += [
        ("resources", i, "utilization")
        for i, res in enumerate(cluster.resources)
        if isinstance(res, PRIMITIVE_TYPES) and res.utilization
    ]
    if users:
        yield users[0], "utilization is ignored with placement strategy default", "set pacemaker.placement_strategy"


def _utilization_offered(cluster: Cluster) -> Iterator[Finding]:
    """A resource whose need no member's capacity covers never runs (a capacity not listed is 0)."""
    if not _weighs_utilization(cluster):
        return
    for i, res in enumerate(cluster.resources):
        for name, need in (res.utilization if isinstance(res, PRIMITIVE_TYPES) else {}).items():
            if need and all(node.utilization.get(name, 0) < need for node in cluster.members):
                yield (
                    ("resources", i, "utilization", name),
                    f"no member offers {name} {need}: '{res.name}' can never run",
                    f"give members utilization {name} (a node that does not list it has none)",
                )


def _node_roles(cluster: Cluster) -> Iterator[Finding]:
    managed_apache = any(isinstance(r, ApacheResource) for r in cluster.resources)
    wanted = {
        "director": (cluster.vrrp is not None, "vrrp"),
        "realserver": (cluster.lvs is not None, "lvs"),
        "arbitrator": (cluster.corosync.qdevice is not None, "corosync.qdevice"),
    }
    for i, node in enumerate(cluster.nodes):
        for role, (configured, section) in wanted.items():
            if role in node.roles and not configured:
                yield (
                    ("nodes", i, "roles"),
                    f"node has role '{role}' but '{section}' is not configured",
                    f"configure {section} or remove the role",
                )
        if "web" in node.roles and "realserver" in node.roles:
            yield ("nodes", i, "roles"), "a realserver runs Apache already", "remove the role 'web'"
        if "web" in node.roles and "member" in node.roles and managed_apache:
            yield (
                ("nodes", i, "roles"),
                "Pacemaker runs Apache on the members (an apache resource), so systemd cannot run it too",
                "remove the role 'web', or the apache resource",
            )


def _link_path(cluster: Cluster, j: int, k: int) -> tuple[str | int, ...]:
    """The field path of network `k` of link `j`, as the file writes the link."""
    written = (cluster.corosync.links or [None])[j]
    return ("corosync", "links", j, "networks", k) if isinstance(written, CorosyncLink) else ("corosync", "links", j)


def _link_networks(cluster: Cluster) -> Iterator[Finding]:
    """Each link's networks exist, belong to no other link, and each member has an address
    on exactly one of them (a routed link: one network per room)."""
    names = [net.name for net in cluster.networks]
    listed = [(j, k, name) for j, link in enumerate(cluster.links) for k, name in enumerate(link.networks)]
    seen: set[str] = set()
    for j, k, name in listed:
        if name not in names:
            yield _link_path(cluster, j, k), f"unknown network '{name}'", f"use one of: {', '.join(names)}"
        elif name in seen:
            yield _link_path(cluster, j, k), f"network '{name}' is listed twice", "each link needs its own network"
        seen.add(name)
    for j, link in enumerate(cluster.links):
        for node in cluster.members:
            on = [name for name in link.networks if name in node.addresses]
            if len(on) != 1:
                which = "no address" if not on else f"addresses on {' and '.join(on)}"
                yield (
                    ("nodes", cluster.nodes.index(node), "addresses"),
                    f"member has {which} on corosync link {j} ({', '.join(map(repr, link.networks))})",
                    "every member needs an address on exactly one network of every link",
                )


def _link_options(cluster: Cluster) -> Iterator[Finding]:
    """Per-link options are knet's; a ping timeout shorter than its interval never sees a pong."""
    for j, written in enumerate(cluster.corosync.links or []):
        if not isinstance(written, CorosyncLink):
            continue
        options = written.model_dump(exclude={"networks"}, exclude_none=True)
        if options and cluster.corosync.transport != "knet":
            yield ("corosync", "links", j), f"{', '.join(options)}: knet link options", "use transport: knet"
        if written.ping_interval and written.ping_timeout and written.ping_timeout <= written.ping_interval:
            yield (
                ("corosync", "links", j, "ping_timeout"),
                f"ping_timeout {written.ping_timeout} ms is not longer than ping_interval {written.ping_interval} ms",
                "make ping_timeout longer than ping_interval (knet's default is about twice)",
            )


def _corosync(cluster: Cluster) -> Iterator[Finding]:
    members, corosync = cluster.members, cluster.corosync
    names = [net.name for net in cluster.networks]
    links = cluster.links
    yield from _link_networks(cluster)
    yield from _link_options(cluster)
    if len(links) > 8:
        yield ("corosync", "links"), "knet supports at most 8 links", "remove links"
    if corosync.transport != "knet" and len(links) > 1:
        yield (
            ("corosync", "transport"),
            f"{corosync.transport} supports one link only",
            "use transport: knet for redundant links",
        )
    if corosync.transport != "knet" and corosync.crypto.cipher != "none":
        yield (
            ("corosync", "crypto"),
            "crypto requires transport: knet",
            "use knet, or set crypto cipher and hash to none",
        )
    if (corosync.crypto.cipher == "none") != (corosync.crypto.hash == "none") and corosync.crypto.hash == "none":
        yield ("corosync", "crypto", "hash"), "a cipher needs a hash", "set hash: sha256 (or cipher: none)"
    if corosync.consensus is not None and corosync.consensus < 1.2 * corosync.token:
        yield (
            ("corosync", "consensus"),
            "consensus must be at least 1.2 x token",
            f"use >= {int(1.2 * corosync.token)} or leave it out",
        )
    if not members:
        return
    quorum, qdevice = corosync.quorum, corosync.qdevice
    if quorum.two_node and len(members) != 2:
        yield (
            ("corosync", "quorum", "two_node"),
            f"two_node needs exactly 2 members, there are {len(members)}",
            "remove two_node",
        )
    if len(members) == 2 and not cluster.two_node and qdevice is None:
        yield (
            ("corosync", "quorum"),
            "a 2-node cluster loses quorum when one node fails",
            "set quorum.two_node: true or add a qdevice",
        )
    if qdevice is not None:
        if quorum.two_node:
            yield (
                ("corosync", "quorum", "two_node"),
                "two_node cannot be combined with a qdevice",
                "remove two_node: the qdevice provides the tie-breaking vote",
            )
        arbiters = {n.name for n in cluster.nodes_with("arbitrator")}
        if qdevice.host not in arbiters:
            yield (
                ("corosync", "qdevice", "host"),
                f"'{qdevice.host}' is not a node with role arbitrator",
                f"use one of: {', '.join(sorted(arbiters)) or '(add a node with roles: [arbitrator])'}",
            )
        net_name = cluster.qdevice_network
        if net_name not in names:
            yield ("corosync", "qdevice", "network"), f"unknown network '{net_name}'", f"use one of: {', '.join(names)}"
        elif qdevice.host in arbiters and net_name not in cluster.node(qdevice.host).addresses:
            yield (
                ("corosync", "qdevice", "network"),
                f"arbitrator has no address on '{net_name}'",
                "give the arbitrator an address on that network",
            )


def _fencing(cluster: Cluster) -> Iterator[Finding]:
    members = {n.name for n in cluster.members}
    if not members:
        return
    if cluster.fencing is None:
        yield (
            ("fencing",),
            "fencing is not configured",
            "add fencing.devices (e.g. fence_ipmilan per node) or write 'fencing: disabled' "
            "to acknowledge running without fencing (not for production data)",
        )
        return
    if not isinstance(cluster.fencing, Fencing):
        return
    covered: set[str] = set()
    for i, device in enumerate(cluster.fencing.devices):
        for j, target in enumerate(device.targets):
            if target not in members:
                yield (
                    ("fencing", "devices", i, "targets", j),
                    f"'{target}' is not a cluster member",
                    f"use one of: {', '.join(sorted(members))}",
                )
            covered.add(target)
        for key, value in device.params.items():
            if key in ("password", "passwd"):
                yield (
                    ("fencing", "devices", i, "params", key),
                    "passwords do not belong in params",
                    "use the device's 'password:' field ({env: VAR}, {file: PATH} or !vault)",
                )
            elif key in FENCE_ADDRESS_PARAMS:
                try:
                    host_address(str(value))
                except ValueError as exc:
                    path = ("fencing", "devices", i, "params", key)
                    yield path, str(exc), "write the BMC's IPv4 address or host name"
    for name in sorted(members - covered):
        yield (
            ("fencing", "devices"),
            f"no fence device can fence member '{name}'",
            "add a device whose targets include it",
        )
    yield from _fence_agents(cluster.fencing)
    yield from _fence_levels(cluster.fencing, members)


def _fence_agents(fencing: Fencing) -> Iterator[Finding]:
    known = fence_agents()
    for i, device in enumerate(fencing.devices):
        if device.agent not in known:
            close = difflib.get_close_matches(device.agent, known, n=1)
            hint = f"did you mean '{close[0]}'?" if close else "see roles/pacemaker/vars/Debian.yml for the agents"
            yield ("fencing", "devices", i, "agent"), f"'{device.agent}' is not a fence agent of Debian 12 or 13", hint


def _fence_levels(fencing: Fencing, members: set[str]) -> Iterator[Finding]:
    targets = {d.name: set(d.targets) for d in fencing.devices}
    for node, levels in fencing.levels.items():
        base = ("fencing", "levels", node)
        if node not in members:
            yield base, f"'{node}' is not a cluster member", f"use one of: {', '.join(sorted(members))}"
            continue
        if len(levels) > 9:
            yield base, f"{len(levels)} levels: Pacemaker numbers fencing levels 1 to 9", "use at most 9 levels"
        for index, devices in enumerate(levels):
            for j, name in enumerate(devices):
                path = (*base, index, j)
                if name not in targets:
                    yield path, f"unknown fence device '{name}'", f"use one of: {', '.join(sorted(targets))}"
                elif node not in targets[name]:
                    yield path, f"device '{name}' cannot fence {node} (not a target)", "add the node to its targets"
            for j, name in _indexed_duplicates(devices):
                yield (*base, index, j), f"'{name}' is listed twice in this level", "list each device once"


def _resources(cluster: Cluster) -> Iterator[Finding]:
    derived = derived_resource_names(cluster)
    declared = [res.name for res in cluster.resources]
    fence_names = [d.name for d in cluster.fencing.devices] if isinstance(cluster.fencing, Fencing) else []
    for i, name in _indexed_duplicates(declared):
        yield ("resources", i, "name"), f"resource name '{name}' is used twice", "resource names must be unique"
    for i, res in enumerate(cluster.resources):
        if res.name in derived or res.name in fence_names:
            yield (
                ("resources", i, "name"),
                f"'{res.name}' is already taken by a fence device or a derived DRBD resource",
                "rename it",
            )
    if cluster.resources and not cluster.members:
        yield ("resources",), "resources need cluster members", "give some nodes roles: [member]"
    known = {res.name: res for res in cluster.resources}
    grouped: dict[str, str] = {}
    cloned: dict[str, str] = {}
    member_nets = [set(n.addresses) for n in cluster.members]
    for i, res in enumerate(cluster.resources):
        if isinstance(res, IpResource):
            yield from _ip_resource(cluster, i, res, member_nets)
        elif isinstance(res, FilesystemResource):
            if (res.drbd is None) == (res.device is None):
                yield (
                    ("resources", i),
                    "a filesystem needs exactly one of 'drbd' or 'device'",
                    "set drbd: NAME or device: /dev/...",
                )
            yield from _filesystem_drbd(cluster, i, res)
        elif isinstance(res, GroupResource):
            for j, member in enumerate(res.members):
                path = ("resources", i, "members", j)
                target = known.get(member)
                if target is None:
                    yield path, f"unknown resource '{member}'", _choices(known)
                elif not isinstance(target, PRIMITIVE_TYPES):
                    yield (
                        path,
                        f"'{member}' is a {target.type}; groups hold primitives only",
                        "list primitive resources",
                    )
                elif member in grouped:
                    yield path, f"'{member}' is already in group '{grouped[member]}'", "a resource belongs to one group"
                else:
                    grouped[member] = res.name
        elif isinstance(res, CloneResource):
            target = known.get(res.resource)
            path = ("resources", i, "resource")
            if target is None:
                yield path, f"unknown resource '{res.resource}'", _choices(known)
            elif isinstance(target, CloneResource):
                yield path, "a clone cannot clone a clone", "clone the primitive or group"
            elif res.resource in cloned:
                yield path, f"'{res.resource}' is already cloned by '{cloned[res.resource]}'", "clone it once"
            else:
                cloned[res.resource] = res.name
        elif isinstance(res, ApacheResource) and not cluster.members:
            yield ("resources", i), "apache needs cluster members", "add members"
    for i, res in enumerate(cluster.resources):
        if isinstance(res, CloneResource) and res.resource in grouped:
            yield (
                ("resources", i, "resource"),
                f"'{res.resource}' is inside group '{grouped[res.resource]}'",
                "clone the group instead",
            )


def _filesystem_drbd(cluster: Cluster, i: int, res: FilesystemResource) -> Iterator[Finding]:
    """A filesystem on DRBD names a resource and one of its volumes."""
    minors = cluster.drbd_minors()
    if res.drbd is not None and res.drbd not in minors:
        yield (
            ("resources", i, "drbd"),
            f"unknown DRBD resource '{res.drbd}'",
            f"use one of: {', '.join(minors) or '(define drbd.resources)'}",
        )
    elif res.drbd is not None and res.drbd_volume >= len(minors[res.drbd]):
        yield (
            ("resources", i, "drbd_volume"),
            f"DRBD resource '{res.drbd}' has no volume {res.drbd_volume}",
            f"use 0 to {len(minors[res.drbd]) - 1}, or add volumes to it",
        )
    elif res.drbd is None and res.drbd_volume:
        yield ("resources", i, "drbd_volume"), "drbd_volume without drbd", "set drbd: NAME, or remove it"


def _ip_resource(cluster: Cluster, i: int, res: IpResource, member_nets: list[set[str]]) -> Iterator[Finding]:
    net = cluster.network_of(res.address)
    if res.network is not None:
        names = [n.name for n in cluster.networks]
        if res.network not in names:
            yield ("resources", i, "network"), f"unknown network '{res.network}'", f"use one of: {', '.join(names)}"
            return
        if res.address not in cluster.network(res.network).subnet:
            yield (
                ("resources", i, "address"),
                f"{res.address} is outside {res.network} ({cluster.network(res.network).subnet})",
                "a floating IP must be in the subnet of the network that carries it",
            )
            return
        net = cluster.network(res.network)
    if net is None:
        subnets = ", ".join(f"{n.name} {n.subnet}" for n in cluster.networks)
        yield (
            ("resources", i, "address"),
            f"{res.address} is outside every network's subnet",
            f"a floating IP must be in a subnet the nodes carry: {subnets}",
        )
        return
    if res.address in (net.subnet.network_address, net.subnet.broadcast_address):
        yield ("resources", i, "address"), f"{res.address} is not a host address of {net.subnet}", "pick a host address"
    if not cluster.routed and any(net.name not in nets for nets in member_nets):
        yield (
            ("resources", i, "address"),
            f"not every member has an address on '{net.name}' to carry {res.address}",
            "give every member an address on that network (a routed cluster, whose corosync link "
            "has one network per room, keeps each floating IP on the members of its network)",
        )
    elif cluster.routed and cluster.members and not cluster.ip_candidates(cluster.outermost(res.name)):
        top = cluster.outermost(res.name)
        yield (
            ("resources", i, "address"),
            f"no member has an address on the network of every floating IP of '{top}' ({net.name} among them)",
            "keep floating IPs of different rooms in different groups, or give members addresses on both networks",
        )
    owners = [n.name for n in cluster.nodes if res.address in n.addresses.values()]
    if owners:
        yield ("resources", i, "address"), f"{res.address} is a node address of {owners[0]}", "pick a free address"


def _operations(cluster: Cluster) -> Iterator[Finding]:
    """Operations Pacemaker would refuse or quietly reinterpret."""
    for i, res in enumerate(cluster.resources):
        if not isinstance(res, PrimitiveResource):
            continue
        keys = [(op.name, interval_us(op.interval)) for op in res.operations]
        for j, (name, _) in _indexed_duplicates(keys):
            yield (
                ("resources", i, "operations", j, "interval"),
                f"a {name} operation with this interval is already defined ({res.operations[j].interval})",
                "one operation per name and interval (10s and 10000ms are one; two roles need two intervals)",
            )
        for j, op in enumerate(res.operations):
            path = ("resources", i, "operations", j, "on_fail")
            if op.on_fail == "fence" and not cluster.fencing_enabled:
                yield path, "on_fail: fence needs fencing", "configure fencing.devices or choose another on_fail"
            promoted_monitor = op.name == "monitor" and op.role == "Promoted" and interval_us(op.interval) > 0
            if op.on_fail == "demote" and op.name != "promote" and not promoted_monitor:
                yield (
                    path,
                    "on_fail: demote applies to promote and to recurring monitors with role Promoted only",
                    "choose another on_fail",
                )


def _choices(known: dict[str, Any]) -> str:
    return f"use one of: {', '.join(known)}" if known else "define it under resources"


@dataclass(frozen=True)
class _Names:
    """The resources constraints may name, and which of them are promotable clones."""

    known: set[str]
    promotable: set[str]

    @classmethod
    def of(cls, cluster: Cluster) -> _Names:
        fence_names = {d.name for d in cluster.fencing.devices} if isinstance(cluster.fencing, Fencing) else set()
        derived = derived_resource_names(cluster)
        promotable = {r.name for r in cluster.resources if isinstance(r, CloneResource) and r.promotable}
        promotable |= {n for n in derived if n.endswith("-clone")}
        return cls({res.name for res in cluster.resources} | derived | fence_names, promotable)

    def ref(self, path: tuple, name: str | None) -> Iterator[Finding]:
        if name is not None and name not in self.known:
            hint = f"use one of: {', '.join(sorted(self.known))}" if self.known else "define it under resources"
            yield path, f"unknown resource '{name}'", hint

    def role(self, path: tuple, resource: str | None, value: str | None) -> Iterator[Finding]:
        if value in ("Promoted", "Unpromoted") and resource in self.known and resource not in self.promotable:
            yield path, f"role {value} needs a promotable clone, '{resource}' is not one", "remove the role"


def _constraints(cluster: Cluster) -> Iterator[Finding]:
    names = _Names.of(cluster)
    members = {n.name for n in cluster.members}
    for i, loc in enumerate(cluster.constraints.location):
        base = ("constraints", "location", i)
        yield from names.ref((*base, "resource"), loc.resource)
        yield from names.role((*base, "role"), loc.resource, loc.role)
        if (loc.node is None) == (not loc.rules):
            yield base, "a location needs exactly one of 'node' or 'rules'", "set node: NAME, or rules: [...]"
        elif loc.node is not None and loc.node not in members:
            yield (*base, "node"), f"'{loc.node}' is not a cluster member", f"use one of: {', '.join(sorted(members))}"
        elif loc.node is not None and cluster.routed:
            yield from _preferred_off_subnet(cluster, base, loc)
        yield from _location_rules(base, loc)
    for i, col in enumerate(cluster.constraints.colocation):
        base = ("constraints", "colocation", i)
        yield from _pair_or_sets(base, col, ("resource", "with"), ("role", "with_role"))
        yield from _resource_sets(names, base, col.sets, "role")
        yield from names.ref((*base, "resource"), col.resource)
        yield from names.ref((*base, "with"), col.with_)
        yield from names.role((*base, "role"), col.resource, col.role)
        yield from names.role((*base, "with_role"), col.with_, col.with_role)
        if col.resource is not None and col.resource == col.with_:
            yield (*base, "with"), "a resource cannot be colocated with itself", "name another resource"
    for i, order in enumerate(cluster.constraints.order):
        base = ("constraints", "order", i)
        yield from _pair_or_sets(base, order, ("first", "then"), ("first_action", "then_action"))
        yield from _resource_sets(names, base, order.sets, "action")
        yield from names.ref((*base, "first"), order.first)
        yield from names.ref((*base, "then"), order.then)
        if order.first is not None and order.first == order.then:
            yield (*base, "then"), "a resource cannot be ordered after itself", "name another resource"


def _preferred_off_subnet(cluster: Cluster, base: tuple[str | int, ...], loc: Location) -> Iterator[Finding]:
    """A routed cluster keeps floating IPs on the members of their network: preferring a
    node outside it can never be honoured."""
    top = cluster.outermost(loc.resource)
    holds_ip = any(isinstance(r, IpResource) and cluster.outermost(r.name) == top for r in cluster.resources)
    candidates = cluster.ip_candidates(top)
    if holds_ip and _score(loc.score) > 0 and loc.node not in candidates:
        yield (
            (*base, "node"),
            f"'{loc.node}' has no address on the network of the floating IPs of '{top}': they never run there",
            f"prefer one of: {', '.join(candidates) or '(none: see the IPs of the resource)'}",
        )


def _pair_or_sets(
    base: tuple[str | int, ...], entry: Colocation | Order, pair: tuple[str, str], extras: tuple[str, ...]
) -> Iterator[Finding]:
    """A colocation or an order binds a pair of resources, or resource sets: one of the two."""
    given = {"with" if name == "with_" else name for name in entry.model_fields_set}
    if entry.sets:
        for name in (*pair, *extras):
            if name in given:
                yield (*base, name), f"'{name}' is for a pair of resources, not for sets", f"remove {name}, or sets"
    elif not set(pair) <= given:
        yield base, f"set '{pair[0]}' and '{pair[1]}', or list sets", f"add {' and '.join(pair)}, or sets: [...]"


def _resource_sets(names: _Names, base: tuple[str | int, ...], sets: list[ResourceSet], own: str) -> Iterator[Finding]:
    """Every set member exists, once per constraint; colocation sets take a role, order sets an action."""
    other = "action" if own == "role" else "role"
    seen: set[str] = set()
    for j, rset in enumerate(sets):
        path = (*base, "sets", j)
        for k, name in enumerate(rset.resources):
            yield from names.ref((*path, "resources", k), name)
            yield from names.role((*path, "role"), name, rset.role)
            if name in seen:
                yield (*path, "resources", k), f"'{name}' is already in a set of this constraint", "list it once"
            seen.add(name)
        if getattr(rset, other) is not None:
            kind = "colocation" if own == "role" else "order"
            yield (*path, other), f"a {kind} set takes no {other}", f"use {own}"
    if len(sets) == 1 and (sets[0].sequential is False or len(sets[0].resources) == 1):
        yield (
            (*base, "sets"),
            "one set binds its members only when it is sequential and has two or more",
            "add resources or another set, or remove sequential: false",
        )


# What a rule's value must look like for Pacemaker to compare it as its `type` says.
_RULE_VALUES = {
    "integer": r"[+-]?[0-9]+",
    "number": r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?",
    "version": r"[0-9]+(\.[0-9]+)*",
}


def _location_rules(base: tuple[str | int, ...], loc: Location) -> Iterator[Finding]:
    """Rules say who gets which score (one way) and what each expression compares."""
    if loc.rules and "score" in loc.model_fields_set:
        yield (*base, "score"), "with rules, each rule carries its own score", "move score into the rules"
    for j, rule in enumerate(loc.rules):
        path = (*base, "rules", j)
        if (rule.score is None) == (rule.score_attribute is None):
            yield path, "a rule needs exactly one of 'score' or 'score_attribute'", "set score, or score_attribute"
        for k, expr in enumerate(rule.expressions):
            where = (*path, "expressions", k, "value")
            pattern = _RULE_VALUES.get(expr.type or "string")
            if expr.operation in ("defined", "not_defined"):
                if expr.value is not None:
                    yield where, f"'{expr.operation}' takes no value", "remove value"
            elif expr.value is None:
                yield where, f"'{expr.operation}' compares the attribute with a value", "add value"
            elif pattern and not re.fullmatch(pattern, str(expr.value)):
                yield where, f"{expr.value!r} is not of type {expr.type}", f"write a {expr.type} or change type"


def _drbd(cluster: Cluster) -> Iterator[Finding]:
    if cluster.drbd is None:
        return
    members = [n.name for n in cluster.members]
    drbd = cluster.drbd
    names = [r.name for r in drbd.resources]
    for i, name in _indexed_duplicates(names):
        yield ("drbd", "resources", i, "name"), f"DRBD resource '{name}' is defined twice", "names must be unique"
    for i, port in _indexed_duplicates([r.port for r in drbd.resources]):
        yield (
            ("drbd", "resources", i, "port"),
            f"port {port} is used by another DRBD resource",
            "each resource needs its own port",
        )
    yield from _drbd_minors(cluster)
    for i, res in enumerate(drbd.resources):
        base = ("drbd", "resources", i)
        nodes = cluster.drbd_nodes(res)
        for j, name in enumerate(res.nodes or []):
            if name not in members:
                yield (*base, "nodes", j), f"'{name}' is not a cluster member", f"use one of: {', '.join(members)}"
        if len(nodes) < 2:
            yield (*base, "nodes"), "DRBD replicates between at least 2 nodes", "list two nodes"
        elif len(nodes) > 2 and drbd.version != "9":
            yield (
                (*base, "nodes"),
                f"{len(nodes)} nodes: DRBD 8.4 (Debian's in-tree module) replicates between 2",
                "list 2 nodes, or set drbd.version: '9' with LINBIT's DRBD 9 module",
            )
        for volume, (disk, disks) in enumerate(res.backing_disks()):
            yield from _drbd_disks((*base, "volumes", volume - 1) if volume else base, nodes, disk, disks)
        yield from _drbd_policies(cluster, base, res)
        net_name = cluster.drbd_network(res)
        if net_name not in {n.name for n in cluster.networks}:
            yield (*base, "network"), f"unknown network '{net_name}'", "name a network from networks:"
            continue
        for name in nodes:
            if name in members and net_name not in cluster.node(name).addresses:
                yield (*base, "network"), f"'{name}' has no address on '{net_name}'", "give it an address there"


def _drbd_minors(cluster: Cluster) -> Iterator[Finding]:
    """Every volume of every resource has its own minor (/dev/drbdN)."""
    resources = cluster.drbd.resources if cluster.drbd is not None else []
    paths = [("drbd", "resources", i, *(("volumes", k - 1) if k else ()), "minor")
             for i, res in enumerate(resources) for k in range(1 + len(res.volumes))]  # fmt: skip
    minors = [minor for minors in cluster.drbd_minors().values() for minor in minors]
    for j, minor in _indexed_duplicates(minors):
        yield paths[j], f"minor {minor} is used twice", "set distinct minors (volume k defaults to the resource's + k)"


def _drbd_disks(base: tuple[str | int, ...], nodes: list[str], disk: str | None, disks: dict[str, str]
                ) -> Iterator[Finding]:  # fmt: skip
    """A volume's per-node disks name its resource's nodes, and each node has a disk."""
    for name in disks:
        if name not in nodes:
            yield (*base, "disks", name), f"'{name}' is not a node of this resource", f"use one of: {', '.join(nodes)}"
    for name in nodes:
        if disk is None and name not in disks:
            yield (
                (*base, "disk"),
                f"no backing disk for '{name}'",
                "set disk: /dev/... (all nodes) or disks: {node: /dev/...}",
            )


def _drbd_policies(cluster: Cluster, base: tuple[str | int, ...], res: DrbdResource) -> Iterator[Finding]:
    """Fencing and authentication settings DRBD would accept but that cannot work."""
    if res.fencing == "resource-and-stonith" and not cluster.fencing_enabled:
        yield (
            (*base, "fencing"),
            "resource-and-stonith freezes I/O until the peer is fenced, and this cluster has no STONITH",
            "configure fencing.devices, or use fencing: resource-only (or leave it out)",
        )
    if res.cram_hmac_alg is not None and res.shared_secret is None:
        yield (*base, "cram_hmac_alg"), "cram_hmac_alg without a shared_secret", "set shared_secret, or remove it"


def _vrrp(cluster: Cluster) -> Iterator[Finding]:
    if cluster.vrrp is None:
        return
    directors = [n.name for n in cluster.nodes_with("director")]
    if not directors:
        yield ("vrrp",), "no node has role 'director'", "add roles: [director] to the keepalived hosts"
    vrrp = cluster.vrrp
    script_names = {s.name for s in vrrp.scripts}
    names = [inst.name for inst in vrrp.instances]
    for i, name in _indexed_duplicates(names):
        yield ("vrrp", "instances", i, "name"), f"instance '{name}' is defined twice", "names must be unique"
    for i, key in _indexed_duplicates([(inst.network, inst.router_id) for inst in vrrp.instances]):
        yield (
            ("vrrp", "instances", i, "router_id"),
            f"router id {key[1]} is used twice on network '{key[0]}'",
            "router ids must be unique per segment (1-255)",
        )
    all_vips = [vip for inst in vrrp.instances for vip in inst.vips]
    for vip in _duplicates(all_vips):
        yield ("vrrp", "instances"), f"VIP {vip} is in two instances", "a VIP belongs to one instance"
    for i, inst in enumerate(vrrp.instances):
        base = ("vrrp", "instances", i)
        if inst.network not in {n.name for n in cluster.networks}:
            yield (*base, "network"), f"unknown network '{inst.network}'", "name a network from networks:"
            continue
        subnet = cluster.network(inst.network).subnet
        for j, vip in enumerate(inst.vips):
            if vip not in subnet:
                yield (
                    (*base, "vips", j),
                    f"{vip} is outside {inst.network} ({subnet})",
                    "a VIP must be in the subnet of its network",
                )
        for name in _without_address(cluster, directors, inst.network):
            yield (*base, "network"), f"director '{name}' has no address on '{inst.network}'", "give one there"
        if inst.priorities is not None:
            for name in inst.priorities:
                if name not in directors:
                    yield (
                        (*base, "priorities", name),
                        f"'{name}' is not a director",
                        f"use one of: {', '.join(directors)}",
                    )
            for prio in _duplicates(inst.priorities.values()):
                yield (*base, "priorities"), f"priority {prio} is given twice", "give each director a distinct priority"
        if isinstance(inst.auth_pass, str) and len(inst.auth_pass) > 8:
            yield (*base, "auth_pass"), "VRRP PASS authentication uses at most 8 characters", "shorten it"
        if inst.auth_pass is not None and inst.version == 3:
            yield (
                (*base, "auth_pass"),
                f"advert_int {inst.advert_int} needs VRRPv3, which has no authentication",
                "remove auth_pass (keep VRRP on a trusted network) or use a whole-second advert_int",
            )
        for j, script in enumerate(inst.track_scripts):
            if script not in script_names:
                yield (*base, "track_scripts", j), f"unknown vrrp script '{script}'", "define it under vrrp.scripts"
        for j, tracked in enumerate(inst.track_interfaces):
            yield from _tracked_interface(cluster, directors, (*base, "track_interfaces", j), tracked)
    for i, group in enumerate(vrrp.sync_groups):
        for j, inst_name in enumerate(group.instances):
            if inst_name not in names:
                yield (
                    ("vrrp", "sync_groups", i, "instances", j),
                    f"unknown instance '{inst_name}'",
                    f"use one of: {', '.join(names)}",
                )
    yield from _weights_in_sync_groups(vrrp)


def _weights_in_sync_groups(vrrp: Vrrp) -> Iterator[Finding]:
    """keepalived ignores (interfaces) or refuses (scripts) weighted tracking in a sync group."""
    weights = {s.name: s.weight for s in vrrp.scripts}
    synced = {name for group in vrrp.sync_groups for name in group.instances}
    for i, inst in enumerate(vrrp.instances):
        for j, tracked in enumerate(inst.track_interfaces):
            if inst.name in synced and tracked.weight:
                yield (
                    ("vrrp", "instances", i, "track_interfaces", j, "weight"),
                    f"'{inst.name}' is in a sync group: keepalived ignores the weights of its tracked interfaces",
                    "leave weight out (0: the instance, and so its group, goes FAULT while the link is down)",
                )
        for j, script in enumerate(inst.track_scripts):
            if inst.name in synced and weights.get(script):
                yield (
                    ("vrrp", "instances", i, "track_scripts", j),
                    f"script '{script}' has weight {weights[script]}, but '{inst.name}' is in a sync group",
                    "keepalived refuses weighted tracking in sync groups: set the script's weight to 0",
                )


def _tracked_interface(cluster: Cluster, directors: list[str], where: tuple[str | int, ...],
                       tracked: TrackedInterface) -> Iterator[Finding]:  # fmt: skip
    """The tracked network exists and every director has its interface (an address on it)."""
    networks = [net.name for net in cluster.networks]
    if tracked.network not in networks:
        yield (*where, "network"), f"unknown network '{tracked.network}'", f"use one of: {', '.join(networks)}"
        return
    for name in _without_address(cluster, directors, tracked.network):
        yield (
            (*where, "network"),
            f"director '{name}' has no address on '{tracked.network}', so no interface to track",
            "give it an address there, or track another network",
        )


def _without_address(cluster: Cluster, names: list[str], network: str) -> list[str]:
    """Those of `names` with no address on `network` (so no interface there either)."""
    return [name for name in names if network not in cluster.node(name).addresses]


def _lvs(cluster: Cluster) -> Iterator[Finding]:
    if cluster.lvs is None:
        return
    if cluster.vrrp is None:
        yield (
            ("lvs",),
            "LVS virtual servers need directors sharing a VIP",
            "configure vrrp: with instances carrying the VIPs",
        )
        return
    carried = {vip for inst in cluster.vrrp.instances for vip in inst.vips}
    realservers = [n.name for n in cluster.nodes_with("realserver")]
    services = cluster.lvs.virtual_servers
    for i, name in _indexed_duplicates([vs.name for vs in services]):
        yield ("lvs", "virtual_servers", i, "name"), f"virtual server '{name}' is defined twice", "names must be unique"
    for i, key in _indexed_duplicates([(vs.vip, vs.port, vs.protocol) for vs in services]):
        yield (
            ("lvs", "virtual_servers", i),
            f"{key[0]}:{key[1]}/{key[2]} is defined twice",
            "one virtual server per VIP, port and protocol",
        )
    for i, vs in enumerate(services):
        base = ("lvs", "virtual_servers", i)
        if vs.vip not in carried:
            yield (*base, "vip"), f"{vs.vip} is not a VIP of any vrrp instance", "add it to a vrrp instance's vips"
        yield from _health_check(vs.health_check, (*base, "health_check"))
        chosen = cluster.real_servers(vs)
        if not chosen:
            yield (*base, "real_servers"), "no real servers", "add nodes with roles: [realserver]"
        for j, rs in enumerate(vs.real_servers or []):
            yield from _real_server(cluster, vs, rs, (*base, "real_servers", j), realservers)
        if vs.method == "TUN" and any(rs.node for rs in chosen):
            yield (
                (*base, "method"),
                "halab does not set up IP-in-IP on its real servers (the VIP on tunl0, rp_filter off): "
                "they would drop TUN's packets",
                "use DR (real servers on the VIP's network) or NAT, or list only external real servers "
                "(address:) that you set up for TUN",
            )
        listed = [rs.node or rs.address for rs in chosen]
        for j, name in _indexed_duplicates(listed):
            yield (*base, "real_servers", j), f"'{name}' is listed twice", "list each real server once"
        if vs.method == "DR" and any(rs.port not in (None, vs.port) for rs in vs.real_servers or []):
            yield (*base, "real_servers"), "DR cannot change the port", "use the virtual server's port, or NAT"
    yield from _nat_gateway(cluster)


def _nat_gateway(cluster: Cluster) -> Iterator[Finding]:
    """The NAT real servers' return route goes via a VRRP VIP on a network they are all on."""
    gateway = cluster.lvs.nat_gateway if cluster.lvs else None
    if gateway is None or cluster.vrrp is None:
        return
    where = ("lvs", "nat_gateway", "via")
    instance = next((i for i in cluster.vrrp.instances if gateway.via in i.vips), None)
    if instance is None:
        yield where, f"{gateway.via} is not a VIP of any vrrp instance", "add it to the vips of an instance there"
        return
    if not cluster.nat_real_servers:
        yield where, "no virtual server uses NAT with a realserver node", "remove nat_gateway, or use method: NAT"
    on_link = {net.name: net.subnet for net in cluster.networks}
    for k, subnet in enumerate(gateway.to):
        inside = [name for name, net in on_link.items() if subnet.subnet_of(net)
                  and any(name in cluster.node(rs).addresses for rs in cluster.nat_real_servers)]  # fmt: skip
        if inside:
            yield (
                ("lvs", "nat_gateway", "to", k),
                f"{subnet} is on network '{inside[0]}', which the NAT real servers reach directly",
                "list the clients' networks (or 0.0.0.0/0), not one the real servers are on",
            )
    cut_off = _without_address(cluster, cluster.nat_real_servers, instance.network)
    if cut_off:
        yield (
            where,
            f"{gateway.via} is on network '{instance.network}', where NAT real server(s) "
            f"{', '.join(cut_off)} have no address",
            "put the real servers on that network, or use a VIP of an instance on theirs",
        )


def _health_check(check: HealthCheck, where: tuple[str | int, ...]) -> Iterator[Finding]:
    if check.type == "MISC_CHECK" and not check.script:
        yield (*where, "script"), "MISC_CHECK needs a script", "set script: /path/to/check"
    if check.urls and check.type not in ("HTTP_GET", "SSL_GET"):
        yield (*where, "urls"), f"{check.type} asks no URL", "use type HTTP_GET or SSL_GET, or remove urls"


def _real_server(cluster: Cluster, vs: VirtualServer, rs: RealServer, where: tuple[str | int, ...],
                 realservers: list[str]) -> Iterator[Finding]:  # fmt: skip
    """A listed real server: a realserver node or an external address, able to serve `vs`."""
    if (rs.node is None) == (rs.address is None):
        yield where, "give either node (a realserver node) or address (an external server)", "set exactly one of them"
        return
    if rs.health_check is not None:
        yield from _health_check(rs.health_check, (*where, "health_check"))
    vip_net = cluster.network_of(vs.vip)
    if rs.node is not None and rs.node not in realservers:
        yield (*where, "node"), f"'{rs.node}' is not a realserver node", f"use one of: {', '.join(realservers)}"
    elif vs.method == "DR" and vip_net is not None:
        on_net = vip_net.name in cluster.node(rs.node).addresses if rs.node else rs.address in vip_net.subnet
        if not on_net:
            yield (
                (*where, "node" if rs.node else "address"),
                f"DR needs real server '{rs.node or rs.address}' on the VIP's network '{vip_net.name}'",
                "give it an address there, or use method: NAT",
            )


def _lab(cluster: Cluster) -> Iterator[Finding]:
    names = {n.name for n in cluster.nodes}
    for j, name in enumerate(cluster.lab.vm_nodes):
        if name not in names:
            yield ("lab", "vm_nodes", j), f"unknown node '{name}'", f"use one of: {', '.join(sorted(names))}"
    for name in cluster.lab.releases:
        if name not in names:
            yield ("lab", "releases", name), f"unknown node '{name}'", f"use one of: {', '.join(sorted(names))}"
    yield from _lab_power_devices(cluster)


def _lab_power_devices(cluster: Cluster) -> Iterator[Finding]:
    """A fence device aimed at a lab BMC port (on the lab's host address) fences that node."""
    if not isinstance(cluster.fencing, Fencing):
        return
    host = lab_host_address(cluster.primary_network.subnet, cluster.primary_network.gateway)
    bmc = cluster.lab.bmc
    owners: dict[int, str] = {}
    for i, node in enumerate(cluster.nodes):
        owners[bmc.port + i] = f"the lab BMC of {node.name}"
        if bmc.pdu_port is not None:
            owners[bmc.pdu_port + i] = f"the lab PDU outlet of {node.name}"
    for i, device in enumerate(cluster.fencing.devices):
        port = device.params.get("ipport")
        if str(device.params.get("ip")) != str(host) or not isinstance(port, int) or port not in owners:
            continue
        owner = owners[port]
        if len(device.targets) != 1 or not owner.endswith(f" of {device.targets[0]}"):
            yield (
                ("fencing", "devices", i, "params", "ipport"),
                f"port {port} is {owner}, but the device fences {', '.join(device.targets)}",
                "use the port of its target (lab.bmc.port + the node's position in nodes)",
            )


def _alerts(cluster: Cluster) -> Iterator[Finding]:
    alerts = cluster.pacemaker.alerts
    for i, name in _indexed_duplicates([alert.name for alert in alerts]):
        yield ("pacemaker", "alerts", i, "name"), f"alert '{name}' is defined twice", "names must be unique"
    for i, alert in enumerate(alerts):
        base = ("pacemaker", "alerts", i)
        if (alert.agent is None) == (alert.path is None):
            yield base, "give either agent (file, smtp, snmp) or path (your executable)", "set exactly one of them"
        if alert.agent == "file":
            for j, recipient in enumerate(alert.recipients):
                if not recipient.startswith("/"):
                    yield (
                        (*base, "recipients", j),
                        "the file agent writes to a file: a recipient is its absolute path",
                        "write e.g. /var/log/pacemaker/alerts.log",
                    )


def _services(cluster: Cluster) -> Iterator[Finding]:
    for i, name in _indexed_duplicates([service.name for service in cluster.services]):
        yield ("services", i, "name"), f"service '{name}' is defined twice", "names must be unique"
    known = {node.name for node in cluster.nodes}
    written: dict[tuple[str, str], str] = {}  # (node, path) -> the service writing it
    for i, service in enumerate(cluster.services):
        base = ("services", i)
        for j, node in enumerate(service.nodes or []):
            if node not in known:
                yield (*base, "nodes", j), f"unknown node '{node}'", f"use one of: {', '.join(sorted(known))}"
        for j, path in _indexed_duplicates([entry.path for entry in [*service.directories, *service.files]]):
            where = ("directories", j) if j < len(service.directories) else ("files", j - len(service.directories))
            yield (*base, *where, "path"), f"{path} is listed twice", "list each path once"
        for j, file in enumerate(service.files):
            yield from _service_file(file, (*base, "files", j))
            for node in cluster.service_nodes(service):
                other = written.setdefault((node, file.path), service.name)
                if other != service.name:
                    yield ((*base, "files", j, "path"), f"{file.path} on {node} is written by service '{other}' too",
                           "let one service write it")  # fmt: skip
        if not cluster.service_nodes(service):
            yield (*base, "nodes"), "the service is installed nowhere (no members)", "list its nodes"


def _service_file(file: ServiceFile, where: tuple[str | int, ...]) -> Iterator[Finding]:
    if (file.content is None) == (file.secret is None):
        yield where, "give either content (the file's text) or secret (a halab secret)", "set exactly one of them"
    if file.secret is not None and int(file.file_mode, 8) & 0o007:
        yield (*where, "mode"), f"{file.file_mode} lets every user read a secret", 'use "0600" (or "0640" for a group)'


def _secrets(cluster: Cluster) -> Iterator[Finding]:
    yield from secret_findings(cluster)


RULES: tuple[Rule, ...] = (
    _nodes,
    _node_roles,
    _node_placement,
    _corosync,
    _fencing,
    _resources,
    _operations,
    _constraints,
    _drbd,
    _vrrp,
    _lvs,
    _alerts,
    _services,
    _lab,
    _secrets,
)


INFINITY = 1_000_000  # Pacemaker's: a sum of scores stops there


def _add(*scores: int) -> int:
    """Scores summed as Pacemaker does: -INFINITY wins, then INFINITY, else capped there."""
    if -INFINITY in scores:
        return -INFINITY
    return INFINITY if INFINITY in scores else max(-INFINITY, min(INFINITY, sum(scores)))


def _score(value: int | str) -> int:
    """A score of the file as the number Pacemaker adds."""
    if isinstance(value, int):
        return _add(value)
    return -INFINITY if value.startswith("-") else INFINITY


def _stickiness_value(value: Any) -> int | None:
    """A resource-stickiness meta value (any scalar) as a score; None if it is not one."""
    text = str(value).strip()
    if isinstance(value, bool) or not re.fullmatch(r"[+-]?([0-9]+|INFINITY)", text):
        return None
    return _score(text if "INFINITY" in text else int(text))


def _stickiness(cluster: Cluster, member: str, group: GroupResource | None) -> int | None:
    """resource-stickiness of a primitive as Pacemaker resolves it: its own meta, else its
    group's (members inherit it), else the resource defaults, else 0."""
    own = next(r.meta for r in cluster.resources if r.name == member)
    for meta in (own, group.meta if group else {}, cluster.pacemaker.resource_defaults):
        if "resource-stickiness" in meta:
            return _stickiness_value(meta["resource-stickiness"])
    return 0


def _failback(cluster: Cluster) -> Iterator[Finding]:
    """After a failover, the preferred node (the one scored highest) wins its resource back
    only if its location score exceeds the current node's location score plus the stickiness
    of every member running there (a group's is the sum of its members'; a tie keeps it)."""
    resources = {r.name: r for r in cluster.resources}
    in_group = {m for r in cluster.resources if isinstance(r, GroupResource) for m in r.members}
    cloned = {r.resource for r in cluster.resources if isinstance(r, CloneResource)}
    for i, loc in enumerate(cluster.constraints.location):
        res = resources.get(loc.resource)
        if loc.role or not isinstance(res, (GroupResource, *PRIMITIVE_TYPES)) or res.name in in_group | cloned:
            continue
        members = cluster.ip_candidates(res.name)  # a routed cluster's IPs run on their subnet only
        scores = {node: 0 for node in members}
        for other in cluster.constraints.location:
            if other.resource == res.name and not other.role and other.node in scores:
                scores[other.node] = _add(scores[other.node], _score(other.score))
        group = res if isinstance(res, GroupResource) else None
        found = [_stickiness(cluster, m, group) for m in (res.members if group else [res.name])]
        sticks = [stick for stick in found if stick is not None]
        preferred = scores.get(loc.node, 0)
        others = [node for node in members if node != loc.node and scores[node] > -INFINITY]
        second_choice = any(scores[node] >= preferred for node in others)  # not *the* preferred node
        if preferred <= 0 or not others or second_choice or len(sticks) < len(found):
            continue
        current = max(others, key=lambda node: scores[node])
        held = _add(scores[current], *sticks)
        if preferred <= held:
            yield (
                ("constraints", "location", i, "score"),
                f"'{res.name}' does not fail back to {loc.node}: on {current} it holds {held} "
                f"(location {scores[current]} + stickiness {' + '.join(map(str, sticks))}), "
                f"not less than {loc.node}'s {preferred}",
                f"for failback, give {loc.node} a score above {held}; if it should stay where it is, nothing to do",
            )


def _nat_without_gateway(cluster: Cluster) -> Iterator[Finding]:
    """NAT real servers without a return route through the directors answer clients directly,
    from their own address, and the clients drop those answers."""
    if cluster.lvs is not None and cluster.lvs.nat_gateway is None and cluster.nat_real_servers:
        yield (
            ("lvs", "nat_gateway"),
            f"NAT real server(s) {', '.join(cluster.nat_real_servers)} get no return route through the directors",
            "set lvs.nat_gateway.via to the directors' VIP on the real servers' network, unless your routers "
            "already send the replies there",
        )


WARNING_RULES: tuple[Rule, ...] = (_failback, _utilization_counts, _utilization_offered, _nat_without_gateway)


def check_warnings(cluster: Cluster) -> list[Finding]:
    """Findings about a valid file that do not stop it (shown as warnings)."""
    return [finding for rule in WARNING_RULES for finding in rule(cluster)]


def check_semantics(cluster: Cluster) -> list[Finding]:
    """Run every rule, once names are unique (else only the name problems: the rest would
    compare against the wrong network or node and only repeat them)."""
    findings = list(_names(cluster))
    return findings or [finding for rule in RULES for finding in rule(cluster)]

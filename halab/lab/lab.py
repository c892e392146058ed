"""Lab life cycle: up (idempotent), down, status, power (the BMCs' verbs), and the fault
verbs crash / cut / restore. Node kinds are behind `backends.Backend`."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from ipaddress import IPv4Interface, IPv4Network
from pathlib import Path
from typing import Any

from halab.errors import HalabError, InputError, OperationFailed
from halab.lab import bmc, names, network, node, ssh, state
from halab.lab.aptproxy import PORT, mirrors
from halab.lab.backends import backend_of
from halab.lab.image import DEFAULT_RELEASE
from halab.lab.procs import Proc, wait_gone
from halab.lab.spec import LAB_RANGE, LabSpec, generic_spec
from halab.lab.state import LabState, NodeState
from halab.paths import cache_dir

# Test hook: raise after this many nodes were booted by `up` (checks cleanup of a half lab).
FAIL_AFTER_NODES_ENV = "HALAB_LAB_FAIL_AFTER_NODES"
# Machine-wide (not per state dir): labs of every user/state dir share the sysctl.
IP_FORWARD_MARK = Path("/run/halab-lab/ip_forward-was-off")


def choose_subnet(name: str) -> IPv4Network:
    """A free /24 of 198.18.0.0/15 for a generic lab, starting at a slot given by its name."""
    taken = _other_subnets(name) + network.host_networks()
    slots = list(LAB_RANGE.subnets(new_prefix=24))
    start = int(hashlib.sha256(name.encode()).hexdigest(), 16) % len(slots)
    for i in range(len(slots)):
        candidate = slots[(start + i) % len(slots)]
        if not any(candidate.overlaps(t) for t in taken):
            return candidate
    raise OperationFailed(f"no free /24 left in {LAB_RANGE}")


def generic_lab(name: str, count: int, backend: str = "container", release: str = DEFAULT_RELEASE) -> LabSpec:
    """Spec of `--nodes N`; an existing lab of that name keeps its subnet."""
    existing = state.load(name)
    if existing is not None and len(existing.spec.networks) == 1:
        return generic_spec(name, count, existing.spec.primary.subnet, backend, release)
    return generic_spec(name, count, choose_subnet(name), backend, release)


def _other_subnets(name: str) -> list[IPv4Network]:
    return [
        net.subnet
        for other in state.lab_names()
        if other != name and (st := state.load(other)) is not None
        for net in st.spec.networks
    ]


def _check_conflicts(spec: LabSpec) -> None:
    mine = set(network.host_networks()) if state.load(spec.name) else set()
    for other in state.lab_names():
        st = state.load(other)
        if other == spec.name or st is None:
            continue
        if names.prefix(other) == names.prefix(spec.name):
            raise InputError(f"lab names {other!r} and {spec.name!r} hash alike; rename one")
        for i, net in enumerate(spec.networks):
            for theirs in st.spec.networks:
                if net.subnet.overlaps(theirs.subnet):
                    raise InputError(
                        f"networks[{i}].subnet: {net.subnet} overlaps {theirs.subnet} of lab "
                        f"{other!r}; use another subnet or `halab lab down {other}`"
                    )
    for i, net in enumerate(spec.networks):
        for used in network.host_networks():
            if net.subnet.overlaps(used) and used not in mine:
                raise InputError(f"networks[{i}].subnet: {net.subnet} overlaps {used}, already on this host")


def up(spec: LabSpec, source: str | None = None, say: Any = print) -> LabState:
    """Create or repair lab `spec`; return when every node answers SSH and has its BMC."""
    with state.locked(spec.name):
        existing = state.load(spec.name)
        if existing is not None and existing.spec != spec:
            raise InputError(
                f"lab {spec.name!r} is up with a different layout; run `halab lab down {spec.name}` first"
            )
        _check_conflicts(spec)
        bmc_password = bmc.password(spec)  # before anything exists: an unset variable is an input error
        images = {}
        for kind, release in sorted({(n.backend, n.release) for n in spec.nodes}):
            backend = backend_of(kind)
            if not backend.image_ready(release):
                say(f"{release}: {backend.building_message}")
            images[kind, release] = backend.ensure_image(release)
        st = existing or LabState(spec, source)
        st.save()
        try:
            _converge(st, images, say)
            bmc.ensure(st, bmc_password)
        except BaseException:
            if existing is None:
                say(f"lab {spec.name}: failed, removing what was created...")
                teardown(st)
            raise
        return st


def _converge(st: LabState, images: dict[tuple[str, str], Any], say: Any) -> None:
    spec = st.spec
    mtu = network.uplink_mtu()
    if not network.ip_forward_enabled():
        IP_FORWARD_MARK.parent.mkdir(mode=0o700, exist_ok=True)
        IP_FORWARD_MARK.touch()
        network.set_ip_forward(True)
    for link, net in enumerate(spec.networks):
        bridge = names.bridge(spec.name, link)
        if bridge not in st.bridges:
            st.bridges.append(bridge)
            st.save()
        if not network.link_exists(bridge):
            address = IPv4Interface(f"{net.host_address}/{net.subnet.prefixlen}")
            network.create_bridge(bridge, address, mtu)
    _ensure_rules(st)
    _ensure_proxy(st)
    ssh.make_key(st.key, f"halab-lab-{spec.name}")
    fail_after = int(os.environ.get(FAIL_AFTER_NODES_ENV, "0") or 0)
    booted: list[str] = []
    for index, nspec in enumerate(spec.nodes):
        ns = st.nodes.get(nspec.name)
        if ns is None:
            ns = NodeState(
                name=nspec.name,
                index=index,
                netns=names.netns(spec.name, nspec.name),
                machine=names.machine(spec.name, nspec.name),
                veths=[names.veth(spec.name, index, link) for link in range(len(spec.networks))],
                backend=nspec.backend,
            )
            st.nodes[nspec.name] = ns
            st.save()
        backend = backend_of(ns.backend)
        if backend.running(ns):
            continue
        backend.power_off(st, ns)  # leftovers of a half-dead node
        _boot(st, ns, mtu, image=images[ns.backend, nspec.release])
        booted.append(ns.name)
        if fail_after and len(booted) >= fail_after:
            raise OperationFailed(f"{FAIL_AFTER_NODES_ENV}={fail_after}: injected failure")
    _write_known_hosts(st)
    if booted:
        say(f"lab {spec.name}: booted {', '.join(booted)}; waiting for SSH...")
    _wait_all(st, [n.name for n in spec.nodes])


def _boot(st: LabState, ns: NodeState, mtu: int, image: Any = None) -> None:
    """Boot a node (created first from `image`, if given) with its links, plumbed before or
    after the boot as its backend needs."""
    backend = backend_of(ns.backend)
    if not backend.plumbs_after_boot:
        _plumb(st, ns, mtu)
    if image is not None:
        backend.create(st, ns, image, mtu)
    backend.boot(st, ns)
    if backend.plumbs_after_boot:
        _plumb(st, ns, mtu)


def _plumb(st: LabState, ns: NodeState, mtu: int) -> None:
    """The node's links on the lab bridges; a cable pulled by `cut` stays pulled."""
    backend_of(ns.backend).plumb(st, ns, mtu)
    for link in ns.cut:
        network.set_link(ns.veths[link], up=False)


def _ensure_rules(st: LabState) -> None:
    wanted = network.lab_rules(st.spec)
    if st.rules == wanted and all(network.rule_exists(r) for r in wanted):
        return
    for rule in st.rules:
        network.delete_rule(rule)
    st.rules = wanted
    st.save()
    filters = [r for r in wanted if r[0] == "filter"]
    for rule in reversed(filters):
        network.insert_rule(rule, 1)
    for rule in wanted:
        if rule[0] != "filter":
            network.insert_rule(rule, 1)


def _ensure_proxy(st: LabState) -> None:
    if st.proxy is not None and st.proxy.alive():
        return
    address = str(st.spec.primary.host_address)
    log = (st.dir / "aptproxy.log").open("ab")
    argv = [sys.executable, "-m", "halab.lab.aptproxy", address, str(PORT),
            str(cache_dir() / "apt-pool"), *mirrors()]  # fmt: skip
    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    log.close()
    st.proxy = Proc.of(child.pid)
    st.save()
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection((address, PORT), timeout=1).close()
            return
        except OSError:
            if child.poll() is not None or time.monotonic() > deadline:
                tail = (st.dir / "aptproxy.log").read_text()[-400:]
                raise OperationFailed(f"apt proxy on {address}:{PORT} did not start: {tail}") from None
            time.sleep(0.05)


def _write_known_hosts(st: LabState) -> None:
    keys = {}
    for ns in st.nodes.values():
        pub = backend_of(ns.backend).host_public_key(st, ns)
        if pub.exists():
            keys[ns.name] = " ".join(pub.read_text().split()[:2])
    ssh.write_known_hosts(st, keys)


def _wait_all(st: LabState, nodes: list[str]) -> None:
    with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
        for future in [pool.submit(_wait_node, st, name) for name in nodes]:
            future.result()


def _wait_node(st: LabState, name: str) -> None:
    ns = st.nodes[name]
    backend = backend_of(ns.backend)
    try:
        ssh.wait_ssh(st, name, timeout=backend.ssh_timeout, alive=backend.alive(ns))
    except HalabError as exc:
        raise OperationFailed(f"{exc}\n{backend.diagnostics(st, ns)}") from exc


def teardown(st: LabState) -> None:
    """Remove everything recorded in `st` that still exists; raise if something stays."""
    problems: list[str] = []
    ssh.close_masters(st)
    procs = [p for ns in st.nodes.values() for p in (ns.bmc, ns.leader, ns.nspawn, ns.qemu) if p]
    if st.proxy:
        procs.append(st.proxy)
    for proc in procs:
        proc.kill()
    if not wait_gone(procs, timeout=15):
        problems.append(f"processes still alive: {[p.pid for p in procs if p.alive()]}")
    for ns in st.nodes.values():
        ns.bmc = ns.leader = ns.nspawn = ns.qemu = None
        try:
            backend_of(ns.backend).remove(st, ns)
        except HalabError as exc:
            problems.append(str(exc))
        network.delete_netns(ns.netns)
        for veth in ns.veths:
            network.delete_link(veth)
    for bridge in st.bridges:
        network.delete_link(bridge)
    for rule in [*st.rules, *st.unplugged]:
        try:
            network.delete_rule(rule)
        except HalabError as exc:
            problems.append(str(exc))
    st.proxy = None
    mounts = node.mounts_under(st.dir)
    if mounts:
        problems.append(f"still mounted: {', '.join(mounts)}")
    if problems:
        st.save()
        raise OperationFailed(f"lab {st.name}: teardown incomplete: " + "; ".join(problems))
    shutil.rmtree(st.dir, ignore_errors=True)
    if IP_FORWARD_MARK.exists() and not network.lab_bridges():
        network.set_ip_forward(False)  # we turned it on, and no lab (any state dir) is left
        IP_FORWARD_MARK.unlink()


def down(name: str) -> bool:
    """Remove lab `name`; False if there was no such lab."""
    with state.locked(name):
        st = state.load(name)
        if st is None:
            return False
        teardown(st)
        return True


def require(name: str) -> LabState:
    st = state.load(name)
    if st is None:
        raise InputError(f"no lab named {name!r} is up (see `halab lab list`)")
    return st


def _node(st: LabState, node_name: str) -> NodeState:
    st.spec.node(node_name)  # InputError naming the lab's nodes
    return st.nodes[node_name]


def running(name: str, node_name: str) -> bool:
    """The node's power state, as its BMC reports it."""
    st = require(name)
    return backend_of(_node(st, node_name).backend).running(_node(st, node_name))


def power_off(name: str, node_name: str) -> bool:
    """Pull the plug (SIGKILL, no shutdown); False if the node was off already."""
    with state.locked(name):
        st = require(name)
        ns = _node(st, node_name)
        backend = backend_of(ns.backend)
        if not backend.running(ns):
            return False
        backend.power_off(st, ns)
        # A dead machine has no live NIC: drop its namespace (addresses, VIPs, veths with it);
        # power on plumbs it afresh, as a reboot would.
        network.delete_netns(ns.netns)
        for veth in ns.veths:
            network.delete_link(veth)
        st.save()
        return True


def power_on(name: str, node_name: str) -> bool:
    """Boot the node (without waiting for SSH); False if it was running already."""
    with state.locked(name):
        st = require(name)
        ns = _node(st, node_name)
        backend = backend_of(ns.backend)
        if backend.running(ns):
            return False
        backend.power_off(st, ns)  # leftovers
        _boot(st, ns, network.uplink_mtu())
        _write_known_hosts(st)
        return True


def addresses(name: str, node_name: str) -> list[str] | None:
    """IPv4 addresses a node holds right now, if its backend can tell from the host (None:
    ask the node)."""
    ns = _node(require(name), node_name)
    return backend_of(ns.backend).held_addresses(ns)


def crash(name: str, node_name: str) -> None:
    if not power_off(name, node_name):
        raise InputError(f"{node_name} is not running")


def cut(name: str, node_name: str, link: int) -> None:
    """Pull the node's cable on network `link` (it stays pulled across power cycles)."""
    with state.locked(name):
        st = require(name)
        ns = _node(st, node_name)
        if not 0 <= link < len(ns.veths):
            raise InputError(f"--link {link}: {node_name} has links 0..{len(ns.veths) - 1}")
        if link not in ns.cut:
            ns.cut.append(link)
            st.save()
        if network.link_exists(ns.veths[link]):
            network.set_link(ns.veths[link], up=False)


def restore(name: str, node_name: str) -> None:
    """Plug every cable of the node back in; boot it again if it was off; wait for SSH."""
    with state.locked(name):
        st = require(name)
        ns = _node(st, node_name)
        ns.cut = []
        st.save()
        for veth in ns.veths:
            if network.link_exists(veth):
                network.set_link(veth, up=True)
    power_on(name, node_name)
    _wait_node(require(name), node_name)


def status(name: str) -> dict[str, Any]:
    st = require(name)
    nodes = {}
    for nspec in st.spec.nodes:
        ns = st.nodes.get(nspec.name)
        backend = backend_of(nspec.backend)
        nodes[nspec.name] = {
            "state": "running" if ns and backend.running(ns) else "down",
            "backend": nspec.backend,
            "release": nspec.release,
            "addresses": {k: str(v) for k, v in nspec.addresses.items()},
            "links": {
                st.spec.networks[i].name: "cut" if i in ns.cut else "up" if network.link_is_up(v) else "down"
                for i, v in enumerate(ns.veths if ns else [])
            },
            "pid": backend.pid(ns) if ns else None,
            "bmc": bmc.describe(st, nspec.name),
        }
    return {
        "name": st.name,
        "source": st.source,
        "ssh_key": str(st.key),
        "known_hosts": str(st.known_hosts),
        "bmc_password_file": str(bmc.generated_password_file(st)) if st.spec.bmc.password is None else None,
        "nodes": nodes,
    }


def inventory_overrides(lab_name: str) -> dict[str, dict[str, Any]] | None:
    """Ansible connection variables per node of a running lab, or None if it is not up."""
    st = state.load(lab_name)
    if st is None or not any(backend_of(ns.backend).running(ns) for ns in st.nodes.values()):
        return None
    common = " ".join(ssh.common_options(st))
    return {
        n.name: {
            "ansible_host": str(st.spec.address(n)),
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(st.key),
            "ansible_ssh_common_args": common,
            **backend_of(n.backend).connection_vars(),
        }
        for n in st.spec.nodes
    }

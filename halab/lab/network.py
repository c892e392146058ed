"""Host networking of a lab: bridges, network namespaces, veth pairs, NAT and forward rules."""

from __future__ import annotations

import json
import os
from ipaddress import IPv4Interface, IPv4Network
from pathlib import Path

from halab.lab import names
from halab.lab.proc import run
from halab.lab.spec import LabSpec

IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
# Ports a node may reach outside the lab: DNS, and apt over http/https.
OUTBOUND_PORTS = {"udp": "53", "tcp": "53,80,443"}


def uplink_mtu() -> int:
    """MTU of the host's default-route device (NATed packets must fit it), at most 1500."""
    routes = json.loads(run(["ip", "-j", "route", "show", "default"]).stdout or "[]")
    for route in routes:
        mtu_file = Path("/sys/class/net") / route.get("dev", "") / "mtu"
        if route.get("dev") and mtu_file.exists():
            return min(1500, int(mtu_file.read_text()))
    return 1500


def host_networks() -> list[IPv4Network]:
    """Subnets of every IPv4 address configured on the host (to avoid clashes)."""
    links = json.loads(run(["ip", "-j", "-4", "addr", "show"]).stdout or "[]")
    return [
        IPv4Interface(f"{a['local']}/{a['prefixlen']}").network
        for link in links
        for a in link.get("addr_info", [])
        if a.get("family") == "inet"
    ]


def lab_bridges() -> list[str]:
    """Bridges of any halab lab on this host (named by `names.bridge`)."""
    return [
        n
        for n in os.listdir("/sys/class/net")
        if names.BRIDGE_RE.match(n) and Path("/sys/class/net", n, "bridge").is_dir()
    ]


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def netns_exists(ns: str) -> bool:
    return Path("/run/netns", ns).exists()


def create_bridge(name: str, address: IPv4Interface, mtu: int) -> None:
    run(["ip", "link", "add", name, "mtu", str(mtu), "type", "bridge"])
    run(["ip", "addr", "add", str(address), "dev", name])
    run(["ip", "link", "set", name, "up"])


def create_netns(ns: str) -> None:
    run(["ip", "netns", "add", ns])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])


def attach_netns(ns: str, pid: int) -> None:
    """Name the network namespace of process `pid` `ns` (as `ip netns add` would have)."""
    delete_netns(ns)  # a name left from the node's last boot
    run(["ip", "netns", "attach", ns, str(pid)])


def add_veth(host_side: str, ns: str, inner: str, bridge: str, address: IPv4Interface, mtu: int) -> None:
    """veth `host_side` on `bridge` <-> `inner` (with `address`) inside namespace `ns`."""
    run(["ip", "link", "add", host_side, "mtu", str(mtu), "type", "veth",
         "peer", "name", inner, "mtu", str(mtu), "netns", ns])  # fmt: skip
    run(["ip", "link", "set", host_side, "master", bridge, "up"])
    run(["ip", "-n", ns, "addr", "add", str(address), "dev", inner])
    run(["ip", "-n", ns, "link", "set", inner, "up"])


def replace_default_route(ns: str, gateway: str) -> None:
    replace_route(ns, "default", gateway)


def replace_route(ns: str, destination: str, gateway: str) -> None:
    run(["ip", "-n", ns, "route", "replace", destination, "via", gateway])


def set_link(name: str, up: bool) -> None:
    run(["ip", "link", "set", name, "up" if up else "down"])


def link_is_up(name: str) -> bool:
    flags = Path("/sys/class/net", name, "flags")
    return flags.exists() and int(flags.read_text(), 16) & 0x1 == 1


def delete_link(name: str) -> None:
    if link_exists(name):
        run(["ip", "link", "del", name], check=False)


def netns_addresses(ns: str) -> list[str]:
    """IPv4 addresses configured in network namespace `ns`."""
    links = json.loads(run(["ip", "-n", ns, "-j", "-4", "addr", "show"], check=False).stdout or "[]")
    return [a["local"] for link in links for a in link.get("addr_info", []) if a.get("family") == "inet"]


def delete_netns(ns: str) -> None:
    if netns_exists(ns):
        run(["ip", "netns", "del", ns], check=False)


def lab_rules(spec: LabSpec) -> list[list[str]]:
    """iptables rules of a lab as [table, chain, match...], in the order they should apply.

    Nodes leave the lab only from their home networks (`spec.uplinks`), for DNS and 80/443
    (apt), NATed; answers come back as ESTABLISHED. Traffic within one bridge passes, and
    between the networks of a routed group (not NATed: corosync knows its peers by address);
    everything else between bridges is dropped.
    """
    tag = ["-m", "comment", "--comment", names.comment(spec.name)]
    bridge = {net.name: names.bridge(spec.name, link) for link, net in enumerate(spec.networks)}
    pairs = [(spec.network(a), spec.network(b)) for group in spec.routed for a in group for b in group if a != b]
    rules = [["nat", "POSTROUTING", "-s", str(a.subnet), "-d", str(b.subnet), "-j", "RETURN", *tag] for a, b in pairs]
    rules += [["nat", "POSTROUTING", "-s", str(net.subnet), "!", "-o", bridge[net.name], "-j", "MASQUERADE", *tag]
              for net in spec.uplinks]  # fmt: skip
    rules += [["filter", "FORWARD", "-i", br, "-o", br, "-j", "ACCEPT", *tag] for br in bridge.values()]
    rules += [["filter", "FORWARD", "-i", bridge[a.name], "-o", bridge[b.name], "-j", "ACCEPT", *tag] for a, b in pairs]
    for net in spec.uplinks:
        uplink = bridge[net.name]
        for proto, ports in OUTBOUND_PORTS.items():
            rules.append(["filter", "FORWARD", "-i", uplink, "!", "-o", uplink, "-p", proto,
                          "-m", "multiport", "--dports", ports, "-j", "ACCEPT", *tag])  # fmt: skip
        rules.append(["filter", "FORWARD", "-o", uplink, "!", "-i", uplink, "-m", "conntrack",
                      "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT", *tag])  # fmt: skip
    for br in bridge.values():
        rules.append(["filter", "FORWARD", "-i", br, "!", "-o", br, "-j", "DROP", *tag])
        rules.append(["filter", "FORWARD", "-o", br, "!", "-i", br, "-j", "DROP", *tag])
    return rules


def insert_rule(rule: list[str], position: int) -> None:
    """Insert at `position` of the chain (FORWARD) or append (nat), so lab rules keep order."""
    table, chain, *match = rule
    if table == "filter":
        run(["iptables", "-w", "-t", table, "-I", chain, str(position), *match])
    else:
        run(["iptables", "-w", "-t", table, "-A", chain, *match])


def rule_exists(rule: list[str]) -> bool:
    table, chain, *match = rule
    return run(["iptables", "-w", "-t", table, "-C", chain, *match], check=False).returncode == 0


def delete_rule(rule: list[str]) -> None:
    table, chain, *match = rule
    while rule_exists(rule):
        run(["iptables", "-w", "-t", table, "-D", chain, *match])


def rules_tagged(lab: str) -> list[str]:
    """Lines of `iptables -S` (filter and nat) carrying the lab's comment: for leak checks."""
    tag = names.comment(lab)
    lines = []
    for table in ("filter", "nat"):
        out = run(["iptables", "-w", "-t", table, "-S"]).stdout
        lines += [line for line in out.splitlines() if tag in line]
    return lines


def host_has_ip_vs() -> bool:
    """The host kernel offers IPVS (loaded, or built in) to containers."""
    if Path("/sys/module/ip_vs").exists() or Path("/proc/net/ip_vs").exists():
        return True
    try:
        return any(line.split()[0] == "ip_vs" for line in Path("/proc/modules").read_text().splitlines())
    except OSError:
        return False


def ip_forward_enabled() -> bool:
    return IP_FORWARD.read_text().strip() == "1"


def set_ip_forward(enabled: bool) -> None:
    IP_FORWARD.write_text("1\n" if enabled else "0\n")

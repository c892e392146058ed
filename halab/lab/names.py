"""Names of host objects a lab creates: all start with the lab's prefix, all fit IFNAMSIZ."""

from __future__ import annotations

import hashlib
import re

IFNAME_MAX = 15
BRIDGE_RE = re.compile(r"^hl[0-9a-f]{5}b[0-9]+$")


def prefix(lab: str) -> str:
    """`hl` + 5 hex digits of the lab name's hash: short, lab-specific, never a real word."""
    return "hl" + hashlib.sha256(lab.encode()).hexdigest()[:5]


def bridge(lab: str, link: int) -> str:
    return _ifname(f"{prefix(lab)}b{link}")


def veth(lab: str, node_index: int, link: int) -> str:
    """Host side of node `node_index`'s veth on network `link`."""
    return _ifname(f"{prefix(lab)}n{node_index}l{link}")


def netns(lab: str, node: str) -> str:
    return f"{prefix(lab)}-{node}"


def machine(lab: str, node: str) -> str:
    """nspawn machine name: unique per machine (nspawn keys /run state on it)."""
    return f"{prefix(lab)}-{node}"[:64]


def comment(lab: str) -> str:
    """iptables comment marking every rule of the lab."""
    return f"halab-lab:{lab}"


def _ifname(name: str) -> str:
    if len(name) > IFNAME_MAX:
        raise ValueError(f"interface name {name!r} is longer than {IFNAME_MAX}")
    return name

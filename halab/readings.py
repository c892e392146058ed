"""Parsers of what tools on the nodes print, for `halab status`: DRBD's `drbdsetup status`
(JSON with DRBD 9; text key:value with the 8.4 kernel that Debian ships, whose drbdsetup-84
has no --json) and `ipvsadm -Ln`. Formats as the tools' own sources print them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

DRBD_STATUS = "drbdsetup status --json 2>/dev/null || drbdsetup status --verbose"
# ipvsadm loads ip_vs when /proc/net/ip_vs is missing: never load it just to look.
IPVS_TABLE = "test -e /proc/net/ip_vs || exit 3; ipvsadm -Ln"
NO_IPVS = 3


@dataclass
class DrbdPeer:
    connection: str = ""
    role: str = ""
    disk: str = ""  # the peer's disk of volume 0


@dataclass
class DrbdResource:
    """One DRBD resource as one node sees it (volume 0: halab's resources have one volume)."""

    role: str = ""
    disk: str = ""
    peers: dict[str, DrbdPeer] = field(default_factory=dict)

    def problems(self) -> list[str]:
        found = [] if self.disk == "UpToDate" else [f"disk {self.disk or 'unknown'}"]
        for name, peer in self.peers.items():
            if peer.connection != "Connected":
                found.append(f"connection to {name} {peer.connection or 'unknown'}")
            elif peer.disk != "UpToDate":
                found.append(f"{name}'s disk {peer.disk or 'unknown'}")
        return found if self.peers else [*found, "no peer connection"]


def parse_drbd_status(text: str) -> dict[str, DrbdResource]:
    """Resource name -> its state, from `drbdsetup status --json` or `--verbose` output."""
    return _drbd_json(text) if text.lstrip().startswith("[") else _drbd_text(text)


def _drbd_json(text: str) -> dict[str, DrbdResource]:
    """drbd-utils v9 drbdsetup.c (resource_status_json and the functions it calls)."""
    found = {}
    for res in json.loads(text):
        device = next((d for d in res.get("devices", []) if d.get("volume") == 0), {})
        peers = {}
        for conn in res.get("connections", []):
            peer_device = next((p for p in conn.get("peer_devices", []) if p.get("volume") == 0), {})
            peers[conn.get("name", "")] = DrbdPeer(conn.get("connection-state", ""), conn.get("peer-role", ""),
                                                   peer_device.get("peer-disk-state", ""))  # fmt: skip
        found[res["name"]] = DrbdResource(res.get("role", ""), device.get("disk-state", ""), peers)
    return found


def _drbd_text(text: str) -> dict[str, DrbdResource]:
    """drbd-utils drbdsetup status --verbose (v84 and v9 text): a resource line starts with its
    name, each connection with the peer's name ("peer" in 8.4), then key:value tokens; lines
    wrap at 80 columns, so only the token order counts."""
    found: dict[str, DrbdResource] = {}
    resource: DrbdResource | None = None
    peer: DrbdPeer | None = None
    volume = "0"
    for line in text.splitlines():
        if line and not line[0].isspace():
            resource, peer, volume = DrbdResource(), None, "0"
            found[line.split()[0]] = resource
            line = " ".join(line.split()[1:])
        for token in line.split():
            if resource is None:
                continue
            key, colon, value = token.partition(":")
            if not colon:
                peer, volume = resource.peers.setdefault(key, DrbdPeer()), "0"
            elif key == "volume":
                volume = value
            elif volume == "0" or key in ("role", "connection"):
                _drbd_token(resource, peer, key, value)
    return found


def _drbd_token(resource: DrbdResource, peer: DrbdPeer | None, key: str, value: str) -> None:
    if peer is None:
        if key in ("role", "disk"):
            setattr(resource, key, value)
    elif key in ("connection", "role"):
        setattr(peer, key, value)
    elif key == "peer-disk":
        peer.disk = value


@dataclass
class RealServer:
    address: str  # address:port
    forward: str
    weight: int
    active: int
    inactive: int


def parse_ipvsadm(text: str) -> dict[str, list[RealServer]]:
    """`PROTO address:port` -> its real servers, from `ipvsadm -Ln` (ipvsadm.c print_title and
    print_service_entry: service lines `TCP  198.18.70.100:80 wrr [persistent N]`, then
    `  -> address:port Forward Weight ActiveConn InActConn` rows)."""
    table: dict[str, list[RealServer]] = {}
    current: list[RealServer] | None = None
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] in ("TCP", "UDP", "FWM"):
            current = table.setdefault(f"{words[0]} {words[1]}", [])
        elif current is not None and len(words) == 6 and words[0] == "->" and words[3].isdigit():
            current.append(RealServer(words[1], words[2], int(words[3]), int(words[4]), int(words[5])))
    return table

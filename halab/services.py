"""What each floating IP fronts, and how to tell that it serves: one rule for verify,
status and drills.

A Pacemaker floating IP fronts the other members of its group and whatever it is
colocated with (in either direction, positive scores, through groups and clones); a VRRP
VIP fronts the LVS virtual services on it. The probe follows the service: HTTP for Apache
(its index page) and for LVS HTTP services (their health check path and status), a TCP
connect for a resource that declares `check` (or an LVS TCP service), and for anything
else only that exactly one node holds the address.
"""

from __future__ import annotations

import socket
import urllib.request
from dataclasses import dataclass
from typing import Literal

from .model import ApacheResource, CloneResource, Cluster, GroupResource, IpResource, PrimitiveResource

ProbeKind = Literal["http", "tcp", "address"]


@dataclass(frozen=True)
class Probe:
    """One client-side check of one floating address."""

    vip: str  # the IP resource or VRRP instance
    address: str
    service: str  # what the address fronts: resource names, or "nothing" for a bare address
    kind: ProbeKind
    port: int | None = None
    path: str = "/"
    status: int = 200

    def describe(self) -> str:
        if self.kind == "http":
            return f"HTTP GET http://{self.address}:{self.port}{self.path} answers {self.status}"
        if self.kind == "tcp":
            return f"TCP connect to {self.address}:{self.port}"
        return f"exactly one node holds {self.address}"

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}{self.path}"


def fronted(cluster: Cluster, ip: IpResource) -> list[str]:
    """Primitives that run with `ip`: its group's other members and what is colocated with it."""
    by_name = {res.name: res for res in cluster.resources}

    def primitives(name: str) -> list[str]:
        res = by_name.get(name)
        if isinstance(res, GroupResource):
            return [m for member in res.members for m in primitives(member)]
        if isinstance(res, CloneResource):
            return primitives(res.resource)
        return [name] if res is not None else []

    group = next((r for r in cluster.resources if isinstance(r, GroupResource) and ip.name in r.members), None)
    units = {ip.name} | ({group.name} if group else set())
    names = [m for m in group.members if m != ip.name] if group else []
    for colocation in cluster.constraints.colocation:
        if not _attracts(colocation.score):
            continue
        for mine, other in [*colocation.pairs(), *((b, a) for a, b in colocation.pairs())]:
            if mine in units:
                names += [n for n in primitives(other) if n != ip.name]
    return list(dict.fromkeys(n for n in names if not isinstance(by_name.get(n), IpResource)))


def _attracts(score: int | str) -> bool:
    """A colocation that keeps the two together (a negative score keeps them apart)."""
    return score > 0 if isinstance(score, int) else not str(score).startswith("-")


def _pacemaker_probe(cluster: Cluster, ip: IpResource) -> Probe:
    names = fronted(cluster, ip)
    by_name = {res.name: res for res in cluster.resources}
    service = ", ".join(names) or "nothing"
    if any(isinstance(by_name[n], ApacheResource) for n in names):
        return Probe(ip.name, str(ip.address), service, "http", cluster.apache.port)
    for name in names:
        res = by_name[name]
        if isinstance(res, PrimitiveResource) and res.check is not None:
            check = res.check
            return Probe(ip.name, str(ip.address), service, check.type, check.port, check.path, check.status)
    return Probe(ip.name, str(ip.address), service, "address")


def probes(cluster: Cluster) -> list[Probe]:
    """One probe per floating address (Pacemaker IPs, then VRRP VIPs: one per LVS service)."""
    out = [_pacemaker_probe(cluster, res) for res in cluster.resources if isinstance(res, IpResource)]
    if cluster.vrrp is None:
        return out
    services = cluster.lvs.virtual_servers if cluster.lvs else []
    for inst in cluster.vrrp.instances:
        for vip in inst.vips:
            on_vip = [vs for vs in services if vs.vip == vip]
            if not on_vip:
                out.append(Probe(inst.name, str(vip), "nothing", "address"))
            for vs in on_vip:
                check = vs.health_check
                if vs.protocol == "TCP" and check.type == "HTTP_GET":
                    out.append(Probe(inst.name, str(vip), vs.name, "http", vs.port, check.path, check.status))
                elif vs.protocol == "TCP":
                    out.append(Probe(inst.name, str(vip), vs.name, "tcp", vs.port))
                else:  # UDP: nothing to connect to
                    out.append(Probe(inst.name, str(vip), vs.name, "address"))
    return out


def answers(probe: Probe, timeout: float = 0.5) -> bool:
    """The client-side check of one probe (a bare address has no client check)."""
    try:
        if probe.kind == "http":
            with urllib.request.urlopen(probe.url, timeout=timeout) as reply:
                return reply.status == probe.status
        if probe.kind == "tcp":
            with socket.create_connection((probe.address, probe.port or 0), timeout=timeout):
                return True
    except OSError as exc:
        code = getattr(exc, "code", None)  # an HTTPError is an answer, maybe the expected one
        return code is not None and code == probe.status
    return True

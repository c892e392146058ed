"""Day-2 verbs on a deployed cluster: status, maintenance moves, standby (drills: halab.drill)."""

from __future__ import annotations

import re
import shlex
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import click
from rich.console import Console
from rich.table import Table

from .errors import InvalidInput, OperationFailed, Problem
from .formats import ISO_DURATION
from .model import Cluster, Fencing
from .naming import derived_resource_names
from .remote import Hosts, Result
from .services import answers, probes

console = Console()


@dataclass
class ClusterState:
    """What the cluster reports about itself, seen from one member."""

    seen_from: str
    quorate: dict[str, bool] = field(default_factory=dict)
    unanswered: list[str] = field(default_factory=list)
    online: list[str] = field(default_factory=list)
    standby: list[str] = field(default_factory=list)
    resources: dict[str, list[str]] = field(default_factory=dict)
    stopped: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def _parse_crm_mon(text: str, state: ClusterState) -> None:
    mon = ET.fromstring(text)
    for node in mon.findall("./nodes/node"):
        if node.get("online") == "true":
            state.online.append(node.get("name", ""))
        if node.get("standby") == "true":
            state.standby.append(node.get("name", ""))
    for res in mon.iter("resource"):
        rid = res.get("id", "")
        nodes = [n.get("name", "") for n in res.iter("node")]
        if res.get("active") == "true":
            state.resources.setdefault(rid, []).extend(nodes)
        elif rid not in state.resources:
            state.stopped.append(rid)
    state.failures = [
        f"{f.get('op_key')} on {f.get('node')}: {f.get('exitreason') or f.get('status')}" for f in mon.iter("failure")
    ]


def cluster_state(cluster: Cluster, hosts: Hosts) -> ClusterState:
    """Quorum as every member sees it; resources from the first member that answers."""
    members = [n.name for n in cluster.members]
    if not members:
        raise InvalidInput([Problem("nodes", "no cluster members", "status needs nodes with role member")])
    with ThreadPoolExecutor(max_workers=len(members)) as pool:
        quorum = dict(
            zip(members, pool.map(lambda h: hosts.run(h, "corosync-quorumtool -s -p", 15), members), strict=True)
        )
    for host in members:
        mon = hosts.run(host, "crm_mon -1 --output-as=xml", 30)
        if mon.rc == 0:
            state = ClusterState(seen_from=host)
            _parse_crm_mon(mon.stdout, state)
            break
    else:
        raise OperationFailed("no member answered crm_mon (is the cluster deployed and running?)")
    state.quorate = {h: bool(re.search(r"^Quorate:\s+Yes", r.stdout, re.M)) for h, r in quorum.items()}
    state.unanswered = [h for h, r in quorum.items() if "Quorate:" not in r.stdout]
    return state


def _vip_holders(cluster: Cluster, hosts: Hosts) -> dict[str, list[str]]:
    """VRRP VIP -> directors that hold it."""
    if cluster.vrrp is None:
        return {}
    directors = [n.name for n in cluster.nodes_with("director")]
    with ThreadPoolExecutor(max_workers=len(directors)) as pool:
        out: list[Result] = list(pool.map(lambda h: hosts.run(h, "ip -o -4 addr show", 15), directors))
    return {
        str(vip): [r.host for r in out if f" {vip}/" in r.stdout]
        for inst in cluster.vrrp.instances
        for vip in inst.vips
    }


def show_status(cluster: Cluster) -> bool:
    """Print the cluster's state; return whether it is healthy."""
    hosts = Hosts(cluster)
    state = cluster_state(cluster, hosts)
    members = [n.name for n in cluster.members]
    table = Table(title=f"cluster {cluster.name} (seen from {state.seen_from})")
    for column in ("node", "quorate", "pacemaker"):
        table.add_column(column)
    for name in members:
        pcmk = "standby" if name in state.standby else ("online" if name in state.online else "OFFLINE")
        quorate = "no answer" if name in state.unanswered else ("yes" if state.quorate.get(name) else "NO")
        table.add_row(name, quorate, pcmk)
    console.print(table)
    resources = Table(title="resources")
    resources.add_column("resource")
    resources.add_column("running on")
    for rid, nodes in sorted(state.resources.items()):
        resources.add_row(rid, ", ".join(nodes))
    for rid in sorted(set(state.stopped)):
        resources.add_row(rid, "STOPPED")
    console.print(resources)
    holders = _vip_holders(cluster, hosts)
    for vip, names in holders.items():
        console.print(f"VRRP VIP {vip}: {', '.join(names) or 'NOBODY'}")
    serving = _services_table(cluster, hosts, members)
    for failure in state.failures:
        console.print(f"[red]failed action[/red] {failure}")
    healthy = (
        all(state.quorate.get(m) for m in members)
        and set(members) <= set(state.online)
        and not state.stopped
        and not state.failures
        and all(len(v) == 1 for v in holders.values())
        and serving
    )
    console.print("healthy" if healthy else "[red]NOT healthy[/red]")
    return healthy


def _services_table(cluster: Cluster, hosts: Hosts, members: list[str]) -> bool:
    """Each floating IP checked for what it fronts, from this machine (halab.services)."""
    names = {r.name for r in cluster.resources}
    checked = [p for p in probes(cluster) if p.vip in names]
    if not checked:
        return True
    with ThreadPoolExecutor(max_workers=len(members)) as pool:
        addresses = dict(zip(members, pool.map(lambda h: hosts.run(h, "ip -o -4 addr show", 15).stdout, members),
                             strict=True))  # fmt: skip
    table = Table(title="services (checked from here)")
    for column in ("floating IP", "fronts", "check", "held by", "result"):
        table.add_column(column)
    healthy = True
    for probe in checked:
        held = [m for m, out in addresses.items() if f" {probe.address}/" in out]
        ok = len(held) == 1 and answers(probe, timeout=3)
        healthy &= ok
        table.add_row(probe.vip, probe.service, probe.describe(), ", ".join(held) or "NOBODY",
                      "ok" if ok else "[red]FAIL[/red]")  # fmt: skip
    console.print(table)
    return healthy


def _on_member(cluster: Cluster, hosts: Hosts, command: str, timeout: float = 180) -> Result:
    """Run a cluster-wide command on the first member that accepts it."""
    last: Result | None = None
    for node in cluster.members:
        last = hosts.run(node.name, command, timeout)
        if last.rc == 0:
            return last
    detail = (last.stderr or last.stdout).strip() if last else "no members"
    raise OperationFailed(f"`{command}` failed: {detail}")


def set_standby(cluster: Cluster, hosts: Hosts, node: str, on: bool) -> None:
    command = ["crm_attribute", "--node", node, "--name", "standby", "--update", "on" if on else "off"]
    _on_member(cluster, hosts, shlex.join(command))


def settle(cluster: Cluster, hosts: Hosts, timeout: int) -> None:
    _on_member(cluster, hosts, f"crm_resource --wait --timeout={timeout}s", timeout + 30)


def _require_resource(cluster: Cluster, resource: str) -> None:
    fence = [d.name for d in cluster.fencing.devices] if isinstance(cluster.fencing, Fencing) else []
    names = {r.name for r in cluster.resources} | set(fence) | derived_resource_names(cluster)
    if resource not in names:
        raise InvalidInput(
            [Problem("resource", f"unknown resource '{resource}'", f"use one of: {', '.join(sorted(names))}")]
        )


def _require_member(cluster: Cluster, node: str) -> None:
    members = [n.name for n in cluster.members]
    if node not in members:
        raise InvalidInput([Problem("node", f"'{node}' is not a cluster member", f"use one of: {', '.join(members)}")])


def move(cluster: Cluster, resource: str, node: str | None, lifetime: str | None, clear: bool) -> None:
    """Move a resource (a temporary location constraint), or clear such a move."""
    _require_resource(cluster, resource)
    hosts = Hosts(cluster)
    if clear:
        _on_member(cluster, hosts, shlex.join(["crm_resource", "--clear", "--resource", resource]))
    else:
        if node is None:
            raise InvalidInput([Problem("node", "missing target node", "halab move FILE RESOURCE NODE")])
        _require_member(cluster, node)
        if lifetime is not None and not ISO_DURATION.match(lifetime):
            raise InvalidInput([Problem("--lifetime", f"{lifetime!r} is not an ISO 8601 duration",
                                        "write e.g. PT30M, PT1H or P1DT12H")])  # fmt: skip
        command = ["crm_resource", "--move", "--resource", resource, "--node", node]
        _on_member(cluster, hosts, shlex.join(command + (["--lifetime", lifetime] if lifetime else [])))
    settle(cluster, hosts, 120)
    state = cluster_state(cluster, hosts)
    where = state.resources.get(resource) or _group_location(state, cluster, resource)
    click.echo(f"{resource} runs on {', '.join(where) or 'nothing'}")


def _group_location(state: ClusterState, cluster: Cluster, group: str) -> list[str]:
    members = next((r.members for r in cluster.resources if r.name == group and r.type == "group"), [])
    return sorted({n for m in members for n in state.resources.get(m, [])})


def cleanup(cluster: Cluster, resource: str | None, node: str | None) -> None:
    """Forget failed actions (Pacemaker re-probes the resources), then report what is left."""
    if resource is not None:
        _require_resource(cluster, resource)
    if node is not None:
        _require_member(cluster, node)
    hosts = Hosts(cluster)
    command = ["crm_resource", "--cleanup", *(["--resource", resource] if resource else []),
               *(["--node", node] if node else [])]  # fmt: skip
    _on_member(cluster, hosts, shlex.join(command))
    settle(cluster, hosts, 120)
    failures = cluster_state(cluster, hosts).failures
    for failure in failures:
        click.echo(f"failed action {failure}")
    click.echo("no failed actions; cluster settled" if not failures else f"{len(failures)} failed action(s) remain")
    if failures:
        raise OperationFailed("failed actions remain after the cleanup: fix their cause first")


def standby(cluster: Cluster, node: str, on: bool) -> None:
    """Put a member in (or out of) standby and wait until the cluster has settled."""
    _require_member(cluster, node)
    hosts = Hosts(cluster)
    set_standby(cluster, hosts, node, on)
    settle(cluster, hosts, 120)
    click.echo(f"{node}: standby {'on' if on else 'off'}; cluster settled")


def cluster_state_from(cluster: Cluster, hosts: Hosts, members: list[str]) -> ClusterState:
    """Resources as seen by the first of `members` that answers (during a failure)."""
    for host in members:
        mon = hosts.run(host, "crm_mon -1 --output-as=xml", 10)
        if mon.rc == 0:
            state = ClusterState(seen_from=host)
            _parse_crm_mon(mon.stdout, state)
            return state
    return ClusterState(seen_from="")

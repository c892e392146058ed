"""Day-2 verbs on a deployed cluster: status, maintenance moves, standby, failover drills."""

from __future__ import annotations

import re
import shlex
import time
import urllib.request
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import click
from rich.console import Console
from rich.table import Table

from .errors import InvalidInput, OperationFailed, Problem
from .formats import ISO_DURATION
from .model import ApacheResource, Cluster, IpResource
from .remote import Hosts, Result

console = Console()


@dataclass
class ClusterState:
    """What the cluster reports about itself, seen from one member."""

    seen_from: str
    quorate: dict[str, bool] = field(default_factory=dict)
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
        table.add_row(name, "yes" if state.quorate.get(name) else "NO", pcmk)
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
    for failure in state.failures:
        console.print(f"[red]failed action[/red] {failure}")
    healthy = (
        all(state.quorate.get(m) for m in members)
        and set(members) <= set(state.online)
        and not state.stopped
        and not state.failures
        and all(len(v) == 1 for v in holders.values())
    )
    console.print("healthy" if healthy else "[red]NOT healthy[/red]")
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


def _settle(cluster: Cluster, hosts: Hosts, timeout: int) -> None:
    _on_member(cluster, hosts, f"crm_resource --wait --timeout={timeout}s", timeout + 30)


def _require_resource(cluster: Cluster, resource: str) -> None:
    names = {r.name for r in cluster.resources}
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
    _settle(cluster, hosts, 120)
    state = cluster_state(cluster, hosts)
    where = state.resources.get(resource) or _group_location(state, cluster, resource)
    click.echo(f"{resource} runs on {', '.join(where) or 'nothing'}")


def _group_location(state: ClusterState, cluster: Cluster, group: str) -> list[str]:
    members = next((r.members for r in cluster.resources if r.name == group and r.type == "group"), [])
    return sorted({n for m in members for n in state.resources.get(m, [])})


def standby(cluster: Cluster, node: str, on: bool) -> None:
    """Put a member in (or out of) standby and wait until the cluster has settled."""
    _require_member(cluster, node)
    hosts = Hosts(cluster)
    _set_standby(cluster, hosts, node, on)
    _settle(cluster, hosts, 120)
    click.echo(f"{node}: standby {'on' if on else 'off'}; cluster settled")


@dataclass
class DrillReport:
    resource: str
    url: str
    before: str
    after: str
    outage_s: float
    holders_after_restore: list[str]


def _service(cluster: Cluster) -> tuple[IpResource, str]:
    vip = next((r for r in cluster.resources if isinstance(r, IpResource)), None)
    if vip is None:
        raise InvalidInput([Problem("resources", "no floating IP to drill", "add a resource of type ip")])
    http = any(isinstance(r, ApacheResource) for r in cluster.resources)
    url = f"http://{vip.address}:{cluster.apache.port}/" if http else ""
    return vip, url


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as reply:
            return reply.status == 200
    except OSError:
        return False


def drill(cluster: Cluster, mode: str, timeout: float) -> DrillReport:
    """Fail the node running the first floating IP; time until the service answers again.

    mode: standby (safe anywhere), crash or cut (lab only: power-off / cable pulled).
    Afterwards the node comes back and the drill checks the IP is held by exactly one node.
    """
    vip, url = _service(cluster)
    hosts = Hosts(cluster)
    state = cluster_state(cluster, hosts)
    where = state.resources.get(vip.name, [])
    if len(where) != 1:
        raise OperationFailed(f"{vip.name} runs on {where or 'no node'}; a drill needs it on exactly one")
    victim = where[0]
    survivors = [n.name for n in cluster.members if n.name != victim]
    click.echo(f"drill ({mode}): {vip.name} on {victim}; failing {victim}")
    started = time.monotonic()
    _fail(cluster, victim, mode, hosts)
    after = ""
    while time.monotonic() - started < timeout:
        if not url or _answers(url):
            now = cluster_state_from(cluster, hosts, survivors)
            after = next(iter(now.resources.get(vip.name, [])), "")
            if after and after != victim:
                break
        time.sleep(0.2)
    outage = time.monotonic() - started
    if not after or after == victim:
        _recover(cluster, victim, mode, hosts)
        raise OperationFailed(f"{vip.name} did not come back on another node within {timeout:.0f}s")
    click.echo(f"{vip.name} answers from {after} after {outage:.1f}s; restoring {victim}")
    _recover(cluster, victim, mode, hosts)
    holders = _ip_holders(cluster, hosts, str(vip.address))
    report = DrillReport(vip.name, url, victim, after, outage, holders)
    if len(holders) != 1:
        raise OperationFailed(
            f"after restoring {victim}, {vip.address} is held by {holders or 'nobody'} (split brain: configure fencing)"
        )
    click.echo(f"after restore: {vip.address} held by {holders[0]} only; drill passed (recovery {outage:.1f}s)")
    return report


def cluster_state_from(cluster: Cluster, hosts: Hosts, members: list[str]) -> ClusterState:
    """Resources as seen by the first of `members` that answers (during a failure)."""
    for host in members:
        mon = hosts.run(host, "crm_mon -1 --output-as=xml", 10)
        if mon.rc == 0:
            state = ClusterState(seen_from=host)
            _parse_crm_mon(mon.stdout, state)
            return state
    return ClusterState(seen_from="")


def _ip_holders(cluster: Cluster, hosts: Hosts, address: str) -> list[str]:
    members = [n.name for n in cluster.members]
    with ThreadPoolExecutor(max_workers=len(members)) as pool:
        out = list(pool.map(lambda h: hosts.run(h, "ip -o -4 addr show", 15), members))
    return [r.host for r in out if f" {address}/" in r.stdout]


def _lab():
    from .lab import lab as lab_api

    return lab_api


def _set_standby(cluster: Cluster, hosts: Hosts, node: str, on: bool) -> None:
    command = ["crm_attribute", "--node", node, "--name", "standby", "--update", "on" if on else "off"]
    _on_member(cluster, hosts, shlex.join(command))


def _fail(cluster: Cluster, node: str, mode: str, hosts: Hosts) -> None:
    if mode == "standby":
        _set_standby(cluster, hosts, node, True)
    elif mode == "crash":
        _lab().crash(cluster.name, node)
    else:
        for link in range(len(cluster.networks)):
            _lab().cut(cluster.name, node, link)


def _recover(cluster: Cluster, node: str, mode: str, hosts: Hosts) -> None:
    if mode == "standby":
        _set_standby(cluster, hosts, node, False)
    else:
        _lab().restore(cluster.name, node)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        state = cluster_state_from(cluster, hosts, [n.name for n in cluster.members])
        if node in state.online:
            break
        time.sleep(2)
    else:
        raise OperationFailed(f"{node} did not rejoin the cluster within 180s")
    _settle(cluster, hosts, 120)

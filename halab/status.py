"""`halab status`: the cluster as its nodes report it - quorum, Pacemaker nodes and resources,
failed actions, DRBD, VRRP and IPVS - plus each floating IP checked from here; tables for
people, JSON for machines, healthy or the list of what is not."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from .inventory import build_inventory
from .model import Cluster
from .operate import ClusterState, cluster_state, pacemaker_problems
from .readings import DRBD_STATUS, IPVS_TABLE, NO_IPVS, DrbdResource, RealServer, parse_drbd_status, parse_ipvsadm
from .remote import Hosts, Result
from .services import answers, probes

ADDRESSES = "ip -o -4 addr show"
NO_ANSWER = "no answer"
console = Console()


@dataclass
class ServiceCheck:
    vip: str
    fronts: str
    check: str
    held_by: list[str]
    ok: bool


@dataclass
class Status:
    """Everything `halab status` reports; `problems` empty means healthy."""

    cluster: str
    state: ClusterState
    members: list[str]
    services: list[ServiceCheck] = field(default_factory=list)
    drbd: dict[str, dict[str, DrbdResource | None]] = field(default_factory=dict)  # resource -> node -> state
    vrrp: dict[str, dict[str, str]] = field(default_factory=dict)  # instance -> director -> MASTER/BACKUP/...
    ipvs: dict[str, dict[str, list[RealServer] | None]] = field(default_factory=dict)  # service -> director
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems


def drbd_nodes_of(settings: dict[str, Any]) -> list[str]:
    """The nodes of every DRBD resource, from the inventory's variables."""
    return sorted({n["name"] for res in settings.get("drbd_resources", []) for n in res["nodes"]})


def collect(cluster: Cluster) -> Status:
    """Read every section from the nodes (in parallel), then judge the whole."""
    hosts = Hosts(cluster)
    settings = build_inventory(cluster).group_vars["all"]
    members = [n.name for n in cluster.members]
    directors = [n.name for n in cluster.nodes_with("director")]
    drbd_nodes = drbd_nodes_of(settings)
    jobs = [(h, ADDRESSES) for h in dict.fromkeys(members + directors)]
    jobs += [(h, DRBD_STATUS) for h in drbd_nodes] + [(h, IPVS_TABLE) for h in directors if cluster.lvs]
    results = hosts.run_all(jobs)
    addresses = {host: r.stdout if r.rc == 0 else None for host, r in _outputs(results, ADDRESSES).items()}
    state = cluster_state(cluster, hosts) if members else ClusterState(seen_from="no Pacemaker members")
    status = Status(cluster.name, state, members)
    status.services = _services(cluster, addresses)
    status.drbd = _drbd(settings.get("drbd_resources", []), results)
    status.vrrp = _vrrp(settings.get("keepalived_instances", []), directors, addresses)
    status.ipvs = _ipvs(settings.get("keepalived_virtual_servers", []), directors, results)
    status.problems = _problems(cluster, status, settings.get("keepalived_virtual_servers", []))
    return status


def _services(cluster: Cluster, addresses: dict[str, str | None]) -> list[ServiceCheck]:
    """Each Pacemaker floating IP checked for what it fronts, from this machine (halab.services)."""
    names = {r.name for r in cluster.resources}
    checks = []
    for probe in (p for p in probes(cluster) if p.vip in names):
        held = [host for host, out in addresses.items() if out and f" {probe.address}/" in out]
        ok = len(held) == 1 and answers(probe, timeout=3)
        checks.append(ServiceCheck(probe.vip, probe.service, probe.describe(), held, ok))
    return checks


def _outputs(results: dict[tuple[str, str], Result], command: str) -> dict[str, Result]:
    return {host: r for (host, cmd), r in results.items() if cmd == command}


def _drbd(resources: list[dict[str, Any]], results: dict[tuple[str, str], Result]) -> dict[str, dict[str, Any]]:
    """DRBD resource -> node -> its state there (None: the node did not answer)."""
    seen = {
        host: parse_drbd_status(r.stdout) if r.rc == 0 else None for host, r in _outputs(results, DRBD_STATUS).items()
    }
    found: dict[str, dict[str, Any]] = {}
    for res in resources:
        for node in (n["name"] for n in res["nodes"]):
            reading = seen.get(node)
            found.setdefault(res["name"], {})[node] = (
                None if reading is None else reading.get(res["name"], DrbdResource())
            )
    return found


def _vrrp(instances: list[dict[str, Any]], directors: list[str], addresses: dict[str, str | None]) -> dict[str, Any]:
    """VRRP instance -> director -> MASTER (holds its VIPs), BACKUP (none), PARTIAL (some)."""
    found: dict[str, dict[str, str]] = {}
    for instance in instances:
        vips = [str(vip).split("/")[0] for vip in instance["vips"]]
        for director in directors:
            out = addresses.get(director)
            held = sum(f" {vip}/" in out for vip in vips) if out is not None else -1
            state = NO_ANSWER if held < 0 else "MASTER" if held == len(vips) else "BACKUP" if held == 0 else "PARTIAL"
            found.setdefault(instance["name"], {})[director] = state
    return found


def _ipvs(services: list[dict[str, Any]], directors: list[str], results: dict[tuple[str, str], Result]) -> dict:
    """LVS virtual service -> director -> its real servers in the IPVS table (None: the director
    has no ip_vs, VRRP only; a service missing from the table, or no answer: no real server)."""
    tables = {host: parse_ipvsadm(r.stdout) if r.rc == 0 else None if r.rc == NO_IPVS else {}
              for host, r in _outputs(results, IPVS_TABLE).items()}  # fmt: skip
    found: dict[str, dict[str, list[RealServer] | None]] = {}
    for vs in services:
        key = f"{vs['protocol']} {vs['vip']}:{vs['port']}"
        for director in directors:
            table = tables.get(director)
            found.setdefault(vs["name"], {})[director] = None if table is None else table.get(key, [])
    return found


def _problems(cluster: Cluster, status: Status, services: list[dict[str, Any]]) -> list[str]:
    """What keeps the cluster from being healthy, section by section."""
    problems = pacemaker_problems(cluster, status.state)
    problems += [f"{s.vip} ({s.check}) held by {', '.join(s.held_by) or 'nobody'}: not serving"
                 for s in status.services if not s.ok]  # fmt: skip
    for name, nodes in status.drbd.items():
        problems += [f"DRBD {name} on {node}: {NO_ANSWER}" for node, res in nodes.items() if res is None]
        problems += [f"DRBD {name} on {node}: {p}" for node, res in nodes.items() if res for p in res.problems()]
        if sum(res.role == "Primary" for res in nodes.values() if res) > 1:
            problems.append(f"DRBD {name}: more than one Primary")
    for name, directors in status.vrrp.items():
        masters = [d for d, state in directors.items() if state == "MASTER"]
        if len(masters) != 1 or "PARTIAL" in directors.values():
            problems.append(f"VRRP {name}: {', '.join(f'{d} {s}' for d, s in directors.items())}")
    expected = {vs["name"]: sum(rs["weight"] > 0 for rs in vs["real_servers"]) for vs in services}
    for name, directors in status.ipvs.items():
        for director, servers in directors.items():
            serving = sum(s.weight > 0 for s in servers or [])
            if servers is not None and serving < expected[name]:
                problems.append(f"IPVS {name} on {director}: {serving} of {expected[name]} real servers in the table")
    return problems


def as_json(status: Status) -> dict[str, Any]:
    """The machine-readable status (`halab status --json`)."""
    state = status.state
    return {
        "cluster": status.cluster,
        "seen_from": state.seen_from,
        "healthy": status.healthy,
        "problems": status.problems,
        "maintenance_mode": state.maintenance_mode,
        "nodes": [{"name": m, "quorate": bool(state.quorate.get(m)), "online": m in state.online,
                   "standby": m in state.standby, "maintenance": m in state.maintenance} for m in status.members],
        "resources": [{"id": rid, "running_on": nodes, "managed": rid not in state.unmanaged}
                      for rid, nodes in sorted(state.resources.items())]
                     + [{"id": rid, "running_on": [], "managed": rid not in state.unmanaged}
                        for rid in sorted(set(state.stopped))],
        "failed_actions": state.failed_actions,
        "services": [asdict(s) for s in status.services],
        "drbd": {name: {node: asdict(res) if res else None for node, res in nodes.items()}
                 for name, nodes in status.drbd.items()},
        "vrrp": status.vrrp,
        "ipvs": {name: {d: [asdict(s) for s in servers] if servers is not None else None for d, servers in dirs.items()}
                 for name, dirs in status.ipvs.items()},
    }  # fmt: skip


def _table(title: str, columns: tuple[str, ...], rows: list[list[str]]) -> None:
    """One section of the human output (none when the section is empty)."""
    if not rows:
        return
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)


def _drbd_rows(status: Status) -> list[list[str]]:
    rows = []
    for name, nodes in status.drbd.items():
        for node, res in nodes.items():
            peers = ", ".join(f"{p}: {v.connection} {v.role} {v.disk}" for p, v in res.peers.items()) if res else ""
            rows.append([name, node, res.role if res else NO_ANSWER, res.disk if res else "", peers])
    return rows


def _ipvs_rows(status: Status) -> list[list[str]]:
    rows = []
    for name, directors in status.ipvs.items():
        for director, servers in directors.items():
            listed = ", ".join(f"{s.address} w{s.weight} {s.active}/{s.inactive}" for s in servers or [])
            rows.append([name, director, "no ip_vs (VRRP only)" if servers is None else listed or "NONE"])
    return rows


def print_tables(status: Status) -> None:
    """The status for people: one table per section, then the verdict and its reasons."""
    state = status.state
    nodes = [[m, NO_ANSWER if m in state.unanswered else "yes" if state.quorate.get(m) else "NO",
              "standby" if m in state.standby else "online" if m in state.online else "OFFLINE",
              "yes" if m in state.maintenance else ""] for m in status.members]  # fmt: skip
    _table(f"cluster {status.cluster} (seen from {state.seen_from})" + (" MAINTENANCE MODE" if state.maintenance_mode
           else ""), ("node", "quorate", "pacemaker", "maintenance"), nodes)  # fmt: skip
    resources = [[rid, ", ".join(nodes) + (" (unmanaged)" if rid in state.unmanaged else "")]
                 for rid, nodes in sorted(state.resources.items())]  # fmt: skip
    resources += [[rid, "STOPPED"] for rid in sorted(set(state.stopped))]
    _table("resources", ("resource", "running on"), resources)
    _table("failed actions", ("action", "node", "result", "reason", "at"),
           [[f["action"], f["node"], f["result"], f["reason"], f["at"]] for f in state.failed_actions])  # fmt: skip
    _table("services (checked from here)", ("floating IP", "fronts", "check", "held by", "result"),
           [[s.vip, s.fronts, s.check, ", ".join(s.held_by) or "NOBODY", "ok" if s.ok else "[red]FAIL[/red]"]
            for s in status.services])  # fmt: skip
    _table("DRBD", ("resource", "node", "role", "disk", "peers (connection role disk)"), _drbd_rows(status))
    _table("VRRP (from the addresses each director holds)", ("instance", "director", "state"),
           [[name, d, s] for name, directors in status.vrrp.items() for d, s in directors.items()])  # fmt: skip
    _table("IPVS", ("virtual service", "director", "real servers (weight active/inactive)"), _ipvs_rows(status))
    for problem in status.problems:
        console.print(f"[red]problem[/red] {problem}", highlight=False)
    console.print("healthy" if status.healthy else "[red]NOT healthy[/red]")


def show(cluster: Cluster, json_output: bool, watch: float | None) -> bool:
    """Print the status once, or every `watch` seconds until interrupted; return whether healthy."""
    while True:
        status = collect(cluster)
        if json_output:
            click.echo(json.dumps(as_json(status), indent=None if watch else 2))
        else:
            if watch and console.is_terminal:
                console.clear()
            print_tables(status)
        if not watch:
            return status.healthy
        time.sleep(watch)

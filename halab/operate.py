"""Day-2 verbs on a deployed cluster: moves, bans, maintenance, standby, cleanup (status:
halab.status, drills: halab.drill)."""

from __future__ import annotations

import re
import shlex
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import click

from .errors import InvalidInput, OperationFailed, Problem
from .formats import ISO_DURATION
from .model import Cluster, Fencing
from .naming import derived_resource_names
from .remote import Hosts, Result

MAINTENANCE = "maintenance-mode"  # the cluster property


@dataclass
class ClusterState:
    """What the cluster reports about itself, seen from one member."""

    seen_from: str
    quorate: dict[str, bool] = field(default_factory=dict)
    unanswered: list[str] = field(default_factory=list)
    online: list[str] = field(default_factory=list)
    standby: list[str] = field(default_factory=list)
    maintenance: list[str] = field(default_factory=list)  # nodes
    maintenance_mode: bool = False
    resources: dict[str, list[str]] = field(default_factory=dict)
    unmanaged: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    failed_actions: list[dict[str, str]] = field(default_factory=list)  # the failures, field by field


def _parse_crm_mon(text: str, state: ClusterState) -> None:
    """crm_mon's XML (Pacemaker's crm_mon API schema, 2.x and 3.x) into `state`."""
    mon = ET.fromstring(text)
    for node in mon.findall("./nodes/node"):
        for flag, names in (("online", state.online), ("standby", state.standby),
                            ("maintenance", state.maintenance)):  # fmt: skip
            if node.get(flag) == "true":
                names.append(node.get("name", ""))
    state.maintenance_mode = mon.find("./summary/cluster_options[@maintenance-mode='true']") is not None
    for res in mon.iter("resource"):
        rid = res.get("id", "")
        nodes = [n.get("name", "") for n in res.iter("node")]
        if res.get("active") == "true":
            state.resources.setdefault(rid, []).extend(nodes)
        elif rid not in state.resources:
            state.stopped.append(rid)
        if res.get("managed") == "false" and rid not in state.unmanaged:
            state.unmanaged.append(rid)
    state.failed_actions = [
        {"action": f.get("op_key") or f.get("id") or "", "node": f.get("node", ""), "result": f.get("exitstatus", ""),
         "reason": f.get("exitreason", ""), "status": f.get("status", ""), "at": f.get("last-rc-change", "")}
        for f in mon.iter("failure")
    ]  # fmt: skip
    state.failures = [f"{f['action']} on {f['node']}: {f['reason'] or f['status']}" for f in state.failed_actions]


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


def pacemaker_problems(cluster: Cluster, state: ClusterState, standby_counts: bool = False) -> list[str]:
    """What keeps the cluster from being healthy, as its members and Pacemaker report it."""
    members = [n.name for n in cluster.members]
    problems = [f"{m} did not answer corosync-quorumtool" for m in members if m in state.unanswered]
    problems += [f"{m} is not quorate" for m in members if not state.quorate.get(m) and m not in state.unanswered]
    problems += [f"{m} is not online in Pacemaker" for m in members if m not in state.online]
    problems += [f"{m} is in standby" for m in state.standby if standby_counts]
    problems += [f"{r} is stopped" for r in sorted(set(state.stopped))]
    problems += [f"failed action {f}" for f in state.failures]
    return problems


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


def clear_failures(cluster: Cluster, hosts: Hosts, resource: str) -> None:
    """Forget `resource`'s failed actions and fail counts (crm_resource --cleanup), then settle."""
    _on_member(cluster, hosts, shlex.join(["crm_resource", "--cleanup", "--resource", resource]))
    settle(cluster, hosts, 120)


def settle(cluster: Cluster, hosts: Hosts, timeout: int) -> None:
    _on_member(cluster, hosts, f"crm_resource --wait --timeout={timeout}s", timeout + 30)


def _invalid(argument: str, message: str, hint: str) -> InvalidInput:
    """A bad command-line argument (exit 2, no host touched), named as the operator typed it."""
    return InvalidInput([Problem(argument, message, hint)], title="invalid argument")


def _require_resource(cluster: Cluster, resource: str) -> None:
    fence = [d.name for d in cluster.fencing.devices] if isinstance(cluster.fencing, Fencing) else []
    names = {r.name for r in cluster.resources} | set(fence) | derived_resource_names(cluster)
    if resource not in names:
        raise _invalid("RESOURCE", f"unknown resource '{resource}'", f"use one of: {', '.join(sorted(names))}")


def _require_member(cluster: Cluster, node: str, argument: str = "NODE") -> None:
    members = [n.name for n in cluster.members]
    if node not in members:
        raise _invalid(argument, f"'{node}' is not a cluster member", f"use one of: {', '.join(members)}")


def _require_lifetime(lifetime: str | None) -> list[str]:
    """crm_resource's `--lifetime` option for an ISO 8601 duration (none without one)."""
    if lifetime is None:
        return []
    if not ISO_DURATION.match(lifetime):
        raise _invalid("--lifetime", f"{lifetime!r} is not an ISO 8601 duration", "write e.g. PT30M, PT1H or P1DT12H")
    return ["--lifetime", lifetime]


def _settled_location(cluster: Cluster, hosts: Hosts, resource: str) -> None:
    """Wait until the cluster has settled, then say where `resource` ended up."""
    settle(cluster, hosts, 120)
    state = cluster_state(cluster, hosts)
    where = state.resources.get(resource) or _group_location(state, cluster, resource)
    click.echo(f"{resource} runs on {', '.join(where) or 'nothing'}")


def move(cluster: Cluster, resource: str, node: str | None, lifetime: str | None, clear: bool) -> None:
    """Move a resource (a temporary location constraint), or clear such a move."""
    _require_resource(cluster, resource)
    hosts = Hosts(cluster)
    if clear:
        _on_member(cluster, hosts, shlex.join(["crm_resource", "--clear", "--resource", resource]))
    else:
        if node is None:
            raise _invalid("NODE", "missing target node", "halab move FILE RESOURCE NODE")
        _require_member(cluster, node)
        command = ["crm_resource", "--move", "--resource", resource, "--node", node, *_require_lifetime(lifetime)]
        _on_member(cluster, hosts, shlex.join(command))
    _settled_location(cluster, hosts, resource)


def ban(cluster: Cluster, resource: str, node: str, lifetime: str | None, clear: bool) -> None:
    """Keep a resource off a member (crm_resource --ban: a cli-ban- constraint that deploys
    keep), or --clear that ban."""
    _require_resource(cluster, resource)
    _require_member(cluster, node)
    if clear and lifetime is not None:
        raise _invalid("--lifetime", "--clear removes a ban: it takes no lifetime", "leave out --lifetime")
    option = ["--clear"] if clear else ["--ban", *_require_lifetime(lifetime)]
    hosts = Hosts(cluster)
    _on_member(cluster, hosts, shlex.join(["crm_resource", *option, "--resource", resource, "--node", node]))
    _settled_location(cluster, hosts, resource)


def maintenance(cluster: Cluster, on: bool, node: str | None) -> None:
    """Maintenance mode of the whole cluster, or of one member (--node): Pacemaker stops
    managing the resources (they keep running where they are) until it is turned off."""
    if node is not None:
        _require_member(cluster, node, "--node")
    target = ["--node", node, "--name", "maintenance"] if node else ["--type", "crm_config", "--name", MAINTENANCE]
    hosts = Hosts(cluster)
    _on_member(cluster, hosts, shlex.join(["crm_attribute", *target, *(["--update", "true"] if on else ["--delete"])]))
    settle(cluster, hosts, 120)
    state = cluster_state(cluster, hosts)
    click.echo(f"maintenance {'on' if on else 'off'} for {node or 'the whole cluster'}; cluster settled")
    for rid, nodes in sorted(state.resources.items()):
        click.echo(f"{rid} runs on {', '.join(nodes)}{' (unmanaged)' if rid in state.unmanaged else ''}")
    if node is None and MAINTENANCE in cluster.pacemaker.properties:
        value = cluster.pacemaker.properties[MAINTENANCE]
        click.echo(f"note: the cluster file sets {MAINTENANCE}: {value}; the next deploy sets it back")


def _group_location(state: ClusterState, cluster: Cluster, group: str) -> list[str]:
    members = next((r.members for r in cluster.resources if r.name == group and r.type == "group"), [])
    return sorted({n for m in members for n in state.resources.get(m, [])})


def cleanup(cluster: Cluster, resource: str | None, node: str | None) -> None:
    """Forget failed actions (Pacemaker re-probes the resources), then report what is left."""
    if resource is not None:
        _require_resource(cluster, resource)
    if node is not None:
        _require_member(cluster, node, "--node")
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

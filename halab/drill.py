"""`halab drill`: inject a fault where a service runs, and measure what a client sees.

While the drill runs, a client probes every floating IP's service the way `halab verify`
does (HTTP, TCP or the bare address, see `halab.services`) every 100 ms, and every node's
addresses are sampled every 250 ms (on a lab, from the host: that works while a node's
cables are cut). Two nodes holding a floating IP in one sample is split brain. With
fencing configured, a crashed or cut member must be fenced: the fence event is read from
Pacemaker (`stonith_admin --history`), not guessed. The fault is always undone at the end,
also after a failure or Ctrl-C. Every argument is checked before a host is touched. The
faults are in `halab.drillfaults`, the numbers and the picture in `halab.drillreport`.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import click

from . import drillreport
from .drillfaults import DESTRUCTIVE, Fault, inject, kill_command, killable, undo, wait_back
from .drillwatch import Sampler, address_reader, completed, fence_events, holders_of
from .errors import InvalidInput, OperationFailed, Problem
from .model import Cluster, GroupResource, IpResource
from .operate import cluster_state, cluster_state_from, settle
from .remote import Hosts
from .services import Probe, answers, fronted, probes

PROBE_EVERY = 0.1  # seconds between client probes
SAMPLE_EVERY = 0.25
BASELINE = 1.0  # seconds of probing before the fault, to show the service answered


@dataclass
class Timeline:
    """Seconds after the fault; the fault is injected `BASELINE` seconds after creation."""

    origin: float = field(default_factory=lambda: time.monotonic() + BASELINE)
    events: list[tuple[float, str]] = field(default_factory=list)

    def now(self) -> float:
        return time.monotonic() - self.origin

    def mark(self, what: str) -> float:
        at = self.now()
        self.events.append((at, what))
        click.echo(f"  {at:7.1f}s  {what}")
        return at


@dataclass
class Plan:
    """A drill's arguments, checked before any host is touched."""

    mode: str
    target: str | None
    repeat: int
    timeout: float
    report_dir: Path | None
    lab: str | None


def _label(probe: Probe) -> str:
    return f"{probe.service} via {probe.vip}"


def _lab_name(cluster: Cluster) -> str | None:
    from .lab import state

    return cluster.name if state.load(cluster.name) is not None else None


def _choices(cluster: Cluster, mode: str) -> list[str]:
    """What --target may name in `mode`."""
    if mode == "director-crash":
        instances = [i.name for i in cluster.vrrp.instances] if cluster.vrrp else []
        return [n.name for n in cluster.nodes_with("director")] + instances
    if mode == "service-kill":
        return killable(cluster)
    return [n.name for n in cluster.members] + [r.name for r in cluster.resources]


def _mode_problems(cluster: Cluster, mode: str, lab: str | None, allow_destructive: bool) -> list[Problem]:
    if mode == "director-crash" and (cluster.vrrp is None or len(cluster.nodes_with("director")) < 2):
        return [Problem("--mode", "director-crash needs keepalived directors (vrrp:, 2 or more)",
                        "use --mode crash, cut, standby or service-kill on a Pacemaker cluster")]  # fmt: skip
    if mode != "director-crash" and not any(isinstance(r, IpResource) for r in cluster.resources):
        return [Problem("--mode", f"{mode} needs a Pacemaker floating IP (a resource of type ip)",
                        "add one, or use --mode director-crash on keepalived directors")]  # fmt: skip
    if mode == "service-kill" and not killable(cluster):
        return [Problem("--mode", "no resource whose process halab can kill (apache, systemd:UNIT primitives)",
                        "use --mode standby")]  # fmt: skip
    if mode == "cut" and lab is None:
        return [Problem("--mode", "cut pulls a halab lab's virtual cables; nothing here can plug real ones back",
                        "use --mode crash --allow-destructive, or pull the cables yourself")]  # fmt: skip
    if mode in DESTRUCTIVE and lab is None and not allow_destructive:
        return [Problem("--mode", f"{mode} would really crash a host: {cluster.name}'s nodes are not a halab lab",
                        "use --mode standby or service-kill, or add --allow-destructive")]  # fmt: skip
    return []


def plan(cluster: Cluster, mode: str, target: str | None, repeat: int, timeout: float, report_dir: Path | None,
         allow_destructive: bool) -> Plan:  # fmt: skip
    """Every problem with the arguments at once (exit 2), before anything is touched."""
    lab = _lab_name(cluster)
    problems = _mode_problems(cluster, mode, lab, allow_destructive)
    choices = _choices(cluster, mode)
    if target is not None and target not in choices:
        problems.append(Problem("--target", f"'{target}' is not a node or resource --mode {mode} can aim at",
                                f"use one of: {', '.join(choices) or 'none in this cluster'}"))  # fmt: skip
    if repeat < 1:
        problems.append(Problem("--repeat", f"{repeat} runs", "give --repeat 1 or more"))
    if report_dir is not None:
        problems += drillreport.dir_problems(report_dir)
    if problems:
        raise InvalidInput(problems, title="invalid argument")
    return Plan(mode, target, repeat, timeout, report_dir, lab)


def _pacemaker_probe(cluster: Cluster, everything: list[Probe], resource: str | None) -> Probe:
    """The probe of the floating IP in front of `resource` (itself an IP, its group, a service
    behind it), else of the first floating IP."""
    ips = {r.name: r for r in cluster.resources if isinstance(r, IpResource)}
    candidates = [p for p in everything if p.vip in ips]
    for probe in candidates:
        groups = [g.name for g in cluster.resources if isinstance(g, GroupResource) and probe.vip in g.members]
        if resource in [probe.vip, *groups, *fronted(cluster, ips[probe.vip])]:
            return probe
    return candidates[0]


def _aim(cluster: Cluster, hosts: Hosts, plan: Plan, everything: list[Probe],
         read: Callable[[str], list[str] | None]) -> tuple[Fault, Probe]:  # fmt: skip
    """The victim node and the service the fault is aimed at, from where things run now."""
    target = plan.target
    if plan.mode == "director-crash":
        instance = target if cluster.vrrp and target in [i.name for i in cluster.vrrp.instances] else None
        probe = next(p for p in everything if p.vip == (instance or cluster.vrrp.instances[0].name))  # type: ignore[union-attr]
        directors = [n.name for n in cluster.nodes_with("director")]
        victim = target if target in directors else None
        if victim is None:
            held = holders_of(read, directors, [probe.address])[probe.address]
            if len(held) != 1:
                raise OperationFailed(f"{probe.address} is held by {held or 'no director'}; the drill needs one MASTER")
            victim = held[0]
        return Fault(plan.mode, victim, plan.lab), probe
    if plan.mode == "service-kill":
        target = target or next((r for p in everything for r in _fronted_names(cluster, p) if kill_command(cluster, r)),
                                killable(cluster)[0])  # fmt: skip
    probe = _pacemaker_probe(cluster, everything, target)
    members = [n.name for n in cluster.members]
    if target in members:
        return Fault(plan.mode, target, plan.lab), probe
    state = cluster_state(cluster, hosts)
    resource = target or probe.vip
    group = next((g for g in cluster.resources if isinstance(g, GroupResource) and g.name == resource), None)
    where = sorted({n for m in (group.members if group else [resource]) for n in state.resources.get(m, [])})
    if len(where) != 1:
        raise OperationFailed(f"{resource} runs on {where or 'no node'}; a drill needs it on exactly one")
    return Fault(plan.mode, where[0], plan.lab, resource if plan.mode == "service-kill" else ""), probe


def _fronted_names(cluster: Cluster, probe: Probe) -> list[str]:
    ip = next((r for r in cluster.resources if isinstance(r, IpResource) and r.name == probe.vip), None)
    return fronted(cluster, ip) if ip else []


def drill(cluster: Cluster, plan: Plan) -> dict:
    """Run the drill `plan.repeat` times, write the report, then judge: raise on split brain,
    a service that did not come back, or a floating IP not held by exactly one node."""
    hosts = Hosts(cluster)
    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    runs: list[drillreport.RunRecord] = []
    for number in range(1, plan.repeat + 1):
        if plan.repeat > 1:
            click.echo(f"run {number}/{plan.repeat}")
        runs.append(_run_once(cluster, hosts, plan))
    document = drillreport.report_json(cluster.name, plan.mode, runs, started)
    if plan.report_dir is not None:
        for path in drillreport.write(plan.report_dir, document):
            click.echo(f"report: {path}")
    _judge(cluster, document)
    return document


def _run_once(cluster: Cluster, hosts: Hosts, plan: Plan) -> drillreport.RunRecord:
    everything = probes(cluster)
    read = address_reader(hosts, plan.lab)
    fault, probe = _aim(cluster, hosts, plan, everything, read)
    nodes = list(dict.fromkeys(n.name for n in [*cluster.members, *cluster.nodes_with("director")]))
    addresses = list(dict.fromkeys(p.address for p in everything))
    labels = {_label(p): p for p in everything}
    record = drillreport.RunRecord(plan.mode, fault.victim, fault.resource or plan.target or probe.vip, _label(probe),
                                   probe.address, {label: p.address for label, p in labels.items()})  # fmt: skip
    click.echo(f"drill ({plan.mode}): {fault.resource or probe.vip} ({probe.service}) on {fault.victim}; "
               f"probe: {probe.describe()}")  # fmt: skip
    timeline = Timeline()
    clients = {label: Sampler(lambda p=p: answers(p), timeline, PROBE_EVERY) for label, p in labels.items()}
    sampler = Sampler(lambda: holders_of(read, nodes, addresses), timeline, SAMPLE_EVERY)
    watchers = [*clients.values(), sampler]
    for watcher in watchers:
        watcher.start()
    stale = _failures(cluster, hosts, fault.resource) if fault.resource else set()
    time.sleep(max(-timeline.now(), 0))
    wall_start = time.time()
    try:
        timeline.mark(f"{plan.mode} {fault.resource or fault.victim}")
        inject(cluster, hosts, fault)
        if plan.mode == "service-kill":
            _watch_restart(cluster, hosts, fault, record, clients, timeline, plan.timeout, stale)
        else:
            _watch_recovery(record, probe, clients, sampler, timeline, plan.timeout)
        if cluster.fencing_enabled and plan.mode in ("crash", "cut"):
            _watch_fencing(hosts, [n.name for n in cluster.members], record, timeline, wall_start, plan.timeout)
    finally:
        with _interrupt_after():
            timeline.mark(f"restoring {fault.victim}")
            undo(cluster, hosts, fault)
            wait_back(cluster, hosts, fault, 300)
            timeline.mark(f"{fault.victim} back")
            for watcher in watchers:
                watcher.stop.set()
            for watcher in watchers:
                watcher.join()
    record.events = timeline.events
    record.probes = {label: [(at, bool(ok)) for at, ok in c.records] for label, c in clients.items()}
    record.holders = {a: [(at, held[a]) for at, held in sampler.records] for a in addresses}  # type: ignore[index]
    return record


@contextmanager
def _interrupt_after() -> Iterator[None]:
    """Ctrl-C while the fault is undone takes effect once it is undone (a half-undone fault is
    worse than a wait, and every step of the undo is bounded)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pressed: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: pressed.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pressed:
        click.echo("interrupted while restoring: the fault is undone", err=True)
        raise KeyboardInterrupt


def _all_answer(clients: dict[str, Sampler]) -> bool:
    return all(c.last for c in clients.values())


def _watch_recovery(record: drillreport.RunRecord, probe: Probe, clients: dict[str, Sampler], sampler: Sampler,
                    timeline: Timeline, timeout: float) -> None:  # fmt: skip
    """Until every service answers again after the aimed-at one stopped or moved, wherever it
    runs then: usually on the survivor, or on the victim itself if a fence rebooted it and it
    won the service back."""
    down_at = None
    client = clients[_label(probe)]
    while timeline.now() < timeout:
        # only a holder sample begun after the outage (or the fault) counts: one begun before
        # it still names the victim, and a crashed VM holds the next sample for seconds
        sampled_at, holders = sampler.records[-1] if sampler.records else (-1.0, {})
        fresh = sampled_at >= (down_at if down_at is not None else 0.0)
        held = holders.get(probe.address, []) if fresh else []  # type: ignore[attr-defined]
        if client.records and client.records[-1][0] >= 0 and not client.last and down_at is None:
            down_at = timeline.mark("service stops answering")
        moved = held and record.victim not in held
        if _all_answer(clients) and len(held) == 1 and (down_at is not None or moved):
            record.survivor = held[0]
            timeline.mark(f"service answers from {record.survivor}")
            return
        time.sleep(PROBE_EVERY)
    raise OperationFailed(f"{probe.vip} did not answer again within {timeout:.0f}s")


def _failures(cluster: Cluster, hosts: Hosts, resource: str) -> set[tuple[str, str, str]]:
    """`resource`'s failed actions as Pacemaker lists them now (action, node, time)."""
    state = cluster_state_from(cluster, hosts, [n.name for n in cluster.members])
    return {(f["action"], f["node"], f["at"]) for f in state.failed_actions if f["action"].startswith(f"{resource}_")}


def _watch_restart(cluster: Cluster, hosts: Hosts, fault: Fault, record: drillreport.RunRecord,
                   clients: dict[str, Sampler], timeline: Timeline, timeout: float,
                   stale: set[tuple[str, str, str]]) -> None:  # fmt: skip
    """Until Pacemaker has noticed the dead process (a new failed action), recovered the
    resource and every service answers; then say whether it restarted in place or moved."""
    members = [n.name for n in cluster.members]
    while timeline.now() < timeout:
        if _failures(cluster, hosts, fault.resource) - stale:
            timeline.mark(f"Pacemaker noticed {fault.resource} failed")
            settle(cluster, hosts, int(max(timeout - timeline.now(), 10)))
            where = cluster_state_from(cluster, hosts, members).resources.get(fault.resource, [])
            while not _all_answer(clients) and timeline.now() < timeout:
                time.sleep(PROBE_EVERY)
            record.survivor = ", ".join(where)
            record.recovery = "restarted in place" if where == [fault.victim] else f"moved to {record.survivor}"
            timeline.mark(f"{fault.resource} {record.recovery}")
            return
        time.sleep(0.5)
    raise OperationFailed(f"Pacemaker did not notice {fault.resource}'s killed process within {timeout:.0f}s")


def _watch_fencing(hosts: Hosts, members: list[str], record: drillreport.RunRecord, timeline: Timeline,
                   wall_start: float, timeout: float) -> None:  # fmt: skip
    """Until Pacemaker reports the victim fenced after the fault (second resolution)."""
    survivors = [m for m in members if m != record.victim]
    while timeline.now() < timeout:
        events = [e for e in fence_events(hosts, survivors, record.victim) if completed(e) >= int(wall_start)]
        events.sort(key=completed)
        if events:
            record.fenced_s = max(completed(events[-1]) - wall_start, 0.0)
            record.fence_executor = events[-1].get("delegate", "")
            timeline.events.append((record.fenced_s, f"{record.victim} fenced (by {record.fence_executor})"))
            click.echo(f"  {record.fenced_s:7.1f}s  {record.victim} fenced, executed by {record.fence_executor} "
                       "(stonith_admin --history, to the second)")  # fmt: skip
            return
        time.sleep(1)
    raise OperationFailed(f"{record.victim} was not fenced within {timeout:.0f}s (stonith_admin --history)")


def _judge(cluster: Cluster, document: dict) -> None:
    """Print each run's numbers and the summary; raise on split brain or a lost service."""
    for number, run in enumerate(document["runs"], 1):
        doubles = run["split_brain"]
        click.echo(f"run {number}: {run['address_samples']} address samples; {len(doubles)} with two holders")
        for label, found in run["services"].items():
            outage = "not back" if found["outage_s"] is None else f"{found['outage_s']:.1f}s"
            later = ", ".join(f"{end - start:.1f}s" for start, end in found["outages"][1:] if end is not None)
            click.echo(f"  {label}: outage {outage} ({found['failed_requests']}/{found['requests']} requests failed)"
                       + (f"; later outages (e.g. the failback): {later}" if later else ""))  # fmt: skip
        if doubles:
            first = doubles[0]
            hint = "" if cluster.fencing_enabled else " (no fencing: configure it)"
            raise OperationFailed(f"split brain: {first['address']} held by {', '.join(first['holders'])} at "
                                  f"{first['at_s']:.1f}s{hint}")  # fmt: skip
        final = run["holders"][run["address"]][-1][1] if run["holders"].get(run["address"]) else []
        if len(final) != 1:
            raise OperationFailed(f"after the drill {run['address']} is held by {final or 'nobody'}")
    summary = document["summary"]
    for label, st in summary["outage_s"].items():
        if document["repeat"] > 1 and st["p50"] is not None:
            click.echo(f"{label}: outage p50 {st['p50']:.1f}s p95 {st['p95']:.1f}s over {st['runs']} runs")
    last = document["runs"][-1]
    outage = last["services"][last["service"]]["outage_s"]
    click.echo(f"drill passed: outage {'none seen' if not outage else f'{outage:.1f}s'}; {last['address']} held by "
               f"{final[0]} only")  # fmt: skip

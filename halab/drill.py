"""`halab drill`: fail the node that runs a service, and measure what a client sees.

While the drill runs, a client probes the service the way `halab verify` does (HTTP,
TCP or the bare address, see `halab.services`) every 100 ms, and every member's
addresses are sampled every 250 ms (on a lab, from the host: that works while a node's
cables are cut). Two nodes holding the floating IP in one sample is split brain. With
fencing configured, a crashed or cut node must be fenced: the fence event is read from
Pacemaker (`stonith_admin --history`), not guessed. The fault is always undone at the
end, also after a failure or Ctrl-C.
"""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import click

from .errors import InvalidInput, OperationFailed, Problem
from .model import Cluster
from .operate import cluster_state, cluster_state_from, set_standby, settle
from .remote import Hosts
from .services import Probe, answers, probes

PROBE_EVERY = 0.1  # seconds between client probes
SAMPLE_EVERY = 0.25


@dataclass
class Timeline:
    """What happened, in seconds after the fault was injected."""

    started: float = field(default_factory=time.monotonic)
    events: list[tuple[float, str]] = field(default_factory=list)

    def now(self) -> float:
        return time.monotonic() - self.started

    def mark(self, what: str) -> float:
        at = self.now()
        self.events.append((at, what))
        click.echo(f"  {at:7.1f}s  {what}")
        return at


class HolderSampler(threading.Thread):
    """Samples which members hold an address until stopped; remembers double holders."""

    def __init__(self, read: Callable[[str], list[str] | None], members: list[str], address: str) -> None:
        super().__init__(daemon=True)
        self.read, self.members, self.address = read, members, address
        self.samples: list[tuple[float, list[str]]] = []
        self.stop = threading.Event()
        self.timeline: Timeline | None = None

    def holders(self) -> list[str]:
        with ThreadPoolExecutor(max_workers=len(self.members)) as pool:
            held = list(pool.map(self.read, self.members))
        return [m for m, addrs in zip(self.members, held, strict=True) if addrs and self.address in addrs]

    def run(self) -> None:
        while not self.stop.wait(SAMPLE_EVERY):
            at = self.timeline.now() if self.timeline else 0.0
            self.samples.append((at, self.holders()))

    @property
    def doubles(self) -> list[tuple[float, list[str]]]:
        return [(at, held) for at, held in self.samples if len(held) > 1]


@dataclass
class DrillReport:
    mode: str
    probe: Probe
    victim: str
    survivor: str = ""
    outage_s: float | None = None
    fenced_at: float | None = None
    fence_executor: str = ""
    doubles: list[tuple[float, list[str]]] = field(default_factory=list)
    samples: int = 0


def _lab_name(cluster: Cluster) -> str | None:
    from .lab import state

    return cluster.name if state.load(cluster.name) is not None else None


def _address_reader(cluster: Cluster, hosts: Hosts, lab: str | None) -> Callable[[str], list[str] | None]:
    """How to read a member's addresses: from the host for lab containers, else over SSH."""

    def over_ssh(node: str) -> list[str] | None:
        out = hosts.run(node, "ip -o -4 addr show", 3)
        return [line.split()[3].split("/")[0] for line in out.stdout.splitlines()] if out.rc == 0 else None

    if lab is None:
        return over_ssh
    from .lab import lab as lab_api

    def from_lab(node: str) -> list[str] | None:
        found = lab_api.addresses(lab, node)
        return found if found is not None else over_ssh(node)

    return from_lab


def _fence_events(hosts: Hosts, members: list[str], victim: str) -> list[ET.Element]:
    """Successful fence events of `victim` as the first answering member reports them."""
    for host in members:
        out = hosts.run(host, f"stonith_admin --history {victim} --verbose --output-as=xml", 10)
        if out.rc == 0:
            return [e for e in ET.fromstring(out.stdout).iter("fence_event") if e.get("status") == "success"]
    return []


def _completed(event: ET.Element) -> float:
    """The event's completion as a UNIX time: Pacemaker prints UTC, to the second (2.1) or
    the microsecond (3.0); 0 for a time it does not print."""
    text = (event.get("completed") or "").rstrip("Z")
    for form in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text, form).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    return 0.0


def _inject(cluster: Cluster, hosts: Hosts, lab: str | None, victim: str, mode: str) -> None:
    if mode == "standby":
        set_standby(cluster, hosts, victim, True)
        return
    if lab is None:
        raise InvalidInput([Problem("--mode", f"{mode} needs a halab lab of this cluster",
                                    "use --mode standby on real hosts")])  # fmt: skip
    from .lab import lab as lab_api

    if mode == "crash":
        lab_api.crash(lab, victim)
    else:
        for link in range(len(cluster.networks)):
            lab_api.cut(lab, victim, link)


def _undo(cluster: Cluster, hosts: Hosts, lab: str | None, victim: str, mode: str) -> None:
    if mode == "standby":
        set_standby(cluster, hosts, victim, False)
    elif lab is not None:
        from .lab import lab as lab_api

        lab_api.restore(lab, victim)


def _wait_back(cluster: Cluster, hosts: Hosts, victim: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if victim in cluster_state_from(cluster, hosts, [n.name for n in cluster.members]).online:
            settle(cluster, hosts, 120)
            return
        time.sleep(2)
    raise OperationFailed(f"{victim} did not rejoin the cluster within {timeout:.0f}s")


def drill(cluster: Cluster, mode: str, timeout: float) -> DrillReport:
    """Fail the node running the first floating IP, measure, restore; raise on a failed drill."""
    probe = next((p for p in probes(cluster) if p.vip in {r.name for r in cluster.resources}), None)
    if probe is None:
        raise InvalidInput([Problem("resources", "no floating IP to drill", "add a resource of type ip")])
    hosts = Hosts(cluster)
    members = [n.name for n in cluster.members]
    where = cluster_state(cluster, hosts).resources.get(probe.vip, [])
    if len(where) != 1:
        raise OperationFailed(f"{probe.vip} runs on {where or 'no node'}; a drill needs it on exactly one")
    lab = _lab_name(cluster)
    report = DrillReport(mode, probe, where[0])
    sampler = HolderSampler(_address_reader(cluster, hosts, lab), members, probe.address)
    click.echo(f"drill ({mode}): {probe.vip} ({probe.service}) on {report.victim}; probe: {probe.describe()}")
    timeline = Timeline()
    sampler.timeline = timeline
    sampler.start()
    wall_start = time.time()
    try:
        timeline.mark(f"{mode} {report.victim}")
        _inject(cluster, hosts, lab, report.victim, mode)
        _watch_recovery(cluster, hosts, report, sampler, timeline, timeout)
        if cluster.fencing_enabled and mode in ("crash", "cut"):
            _watch_fencing(hosts, members, report, timeline, wall_start, timeout)
    finally:
        timeline.mark(f"restoring {report.victim}")
        _undo(cluster, hosts, lab, report.victim, mode)
        _wait_back(cluster, hosts, report.victim, 300)
        timeline.mark(f"{report.victim} back in the cluster")
        sampler.stop.set()
        sampler.join()
    report.doubles, report.samples = sampler.doubles, len(sampler.samples)
    _judge(cluster, report, sampler)
    return report


def _watch_recovery(cluster: Cluster, hosts: Hosts, report: DrillReport, sampler: HolderSampler,
                    timeline: Timeline, timeout: float) -> None:  # fmt: skip
    """Until the service answers again (after it stopped), wherever it runs then: usually on
    the survivor, or on the victim itself if a fence rebooted it and it won the service back."""
    down_at = None
    while timeline.now() < timeout:
        ok = answers(report.probe)
        holders = sampler.samples[-1][1] if sampler.samples else []
        if not ok and down_at is None:
            down_at = timeline.mark("service stops answering")
        moved = holders and report.victim not in holders
        if ok and holders and (down_at is not None or moved):
            report.survivor = holders[0]
            report.outage_s = timeline.now() - (down_at if down_at is not None else timeline.now())
            timeline.mark(f"service answers from {report.survivor} (outage {report.outage_s:.1f}s)")
            return
        time.sleep(PROBE_EVERY)
    raise OperationFailed(f"{report.probe.vip} did not answer again within {timeout:.0f}s")


def _watch_fencing(hosts: Hosts, members: list[str], report: DrillReport, timeline: Timeline,
                   wall_start: float, timeout: float) -> None:  # fmt: skip
    """Until Pacemaker reports the victim fenced after the fault (second resolution)."""
    survivors = [m for m in members if m != report.victim]
    while timeline.now() < timeout:
        events = [e for e in _fence_events(hosts, survivors, report.victim) if _completed(e) >= int(wall_start)]
        events.sort(key=_completed)
        if events:
            report.fenced_at = max(_completed(events[-1]) - wall_start, 0.0)
            report.fence_executor = events[-1].get("delegate", "")
            timeline.events.append((report.fenced_at, f"{report.victim} fenced (by {report.fence_executor})"))
            click.echo(f"  {report.fenced_at:7.1f}s  {report.victim} fenced, executed by {report.fence_executor} "
                       "(stonith_admin --history, to the second)")  # fmt: skip
            return
        time.sleep(1)
    raise OperationFailed(f"{report.victim} was not fenced within {timeout:.0f}s (stonith_admin --history)")


def _judge(cluster: Cluster, report: DrillReport, sampler: HolderSampler) -> None:
    final = sampler.holders()
    click.echo(f"{report.samples} address samples; {len(report.doubles)} with two holders of {report.probe.address}")
    if report.doubles:
        at, held = report.doubles[0]
        hint = "" if cluster.fencing_enabled else " (no fencing: configure it)"
        raise OperationFailed(f"split brain: {report.probe.address} held by {', '.join(held)} at {at:.1f}s{hint}")
    if len(final) != 1:
        raise OperationFailed(f"after the drill {report.probe.address} is held by {final or 'nobody'}")
    click.echo(f"drill passed: outage {report.outage_s:.1f}s; {report.probe.address} held by {final[0]} only")

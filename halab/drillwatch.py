"""What a drill watches while the fault lasts: a sampler thread (client probes, the holders of
the floating addresses), the nodes' addresses (from the lab host where it can tell, which
works while a node is cut), and Pacemaker's fence history."""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Protocol

from .remote import Hosts


class Clock(Protocol):
    def now(self) -> float: ...


class Sampler(threading.Thread):
    """Calls `sample` every `every` seconds until stopped, recording (time, value)."""

    def __init__(self, sample: Callable[[], object], timeline: Clock, every: float) -> None:
        super().__init__(daemon=True)
        self.sample, self.timeline, self.every = sample, timeline, every
        self.records: list[tuple[float, object]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while True:
            at = self.timeline.now()
            self.records.append((at, self.sample()))
            if self.stop.wait(max(self.every - (self.timeline.now() - at), 0)):
                return

    @property
    def last(self) -> object:
        return self.records[-1][1] if self.records else None


def holders_of(read: Callable[[str], list[str] | None], nodes: list[str], addresses: list[str]) -> dict[str, list[str]]:
    """Which nodes hold each address, read from every node at once."""
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        held = dict(zip(nodes, pool.map(read, nodes), strict=True))
    return {a: [n for n in nodes if held[n] and a in held[n]] for a in addresses}


def address_reader(hosts: Hosts, lab: str | None) -> Callable[[str], list[str] | None]:
    """How to read a node's addresses: from the host for lab containers, else over SSH."""

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


def fence_events(hosts: Hosts, members: list[str], victim: str) -> list[ET.Element]:
    """Successful fence events of `victim` as the first answering member reports them."""
    for host in members:
        out = hosts.run(host, f"stonith_admin --history {victim} --verbose --output-as=xml", 10)
        if out.rc == 0:
            return [e for e in ET.fromstring(out.stdout).iter("fence_event") if e.get("status") == "success"]
    return []


def completed(event: ET.Element) -> float:
    """The event's completion as a UNIX time: Pacemaker prints UTC, to the second (2.1) or
    the microsecond (3.0); 0 for a time it does not print."""
    text = (event.get("completed") or "").rstrip("Z")
    for form in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text, form).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    return 0.0



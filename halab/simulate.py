"""`halab simulate`: where Pacemaker's own scheduler (crm_simulate) puts every resource before
and after failures, offline: the CIB is rendered from the cluster file, no host is contacted.

The rendered CIB has secrets redacted (halab.render), so the copy crm_simulate reads in a
private temporary directory never holds one; the scheduler does not need them.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from .errors import InvalidInput, OperationFailed, Problem
from .formats import interval_us
from .inventory import Inventory, build_inventory
from .model import Cluster
from .render import CIB_FILE, render_all

Placement = dict[str, list[str]]
PROMOTION_SCORE = "10000"  # what the DRBD agent sets (crm_master) on an UpToDate node
SETTLE_ROUNDS = 10
NOT_RUNNING = 7  # OCF_NOT_RUNNING: the monitor result of a resource that died


def crm_simulate() -> str:
    """The crm_simulate binary, or exit 2 saying which package has it."""
    found = shutil.which("crm_simulate")
    if found is None:
        raise InvalidInput(
            [Problem("", "crm_simulate (Pacemaker's scheduler simulator) is not installed",
                     "install it: Debian/Ubuntu: apt install pacemaker-cli-utils; Fedora/RHEL: pacemaker-cli")],
            title="cannot simulate",
        )  # fmt: skip
    return found


def _nvpair(parent: ET.Element, id_: str, name: str, value: str) -> None:
    ET.SubElement(parent, "nvpair", {"id": id_, "name": name, "value": value})


def promotable_primitives(cib: ET.Element) -> list[str]:
    """The primitives of promotable clones: the scheduler promotes only where their agent has
    set a promotion score, which no agent does offline."""
    return [
        primitive.get("id", "")
        for clone in cib.iter("clone")
        if clone.find("meta_attributes/nvpair[@name='promotable'][@value='true']") is not None
        for primitive in clone.iter("primitive")
    ]


def with_online_status(cib: str, inventory: Inventory) -> str:
    """`cib` with a status section of a healthy, quorate cluster: every member online (without
    one, every node is unclean) and each promotable clone's promotion score set on every member,
    as the DRBD agent does when every disk is UpToDate."""
    root = ET.fromstring(cib)
    members = inventory.groups["cluster_members"]
    ids = {member: str(inventory.hostvars(member)["corosync_nodeid"]) for member in members}
    root.set("have-quorum", "1")
    root.set("dc-uuid", ids[members[0]])
    status = root.find("status")
    if status is None:
        status = ET.SubElement(root, "status")
    promotable = promotable_primitives(root)
    for member, node_id in ids.items():
        online = {"in_ccm": "true", "crmd": "online", "join": "member", "expected": "member"}
        state = ET.SubElement(status, "node_state", {"id": node_id, "uname": member, **online})
        if promotable:
            attributes = ET.SubElement(ET.SubElement(state, "transient_attributes", {"id": node_id}),
                                       "instance_attributes", {"id": f"status-{node_id}"})  # fmt: skip
            for primitive in promotable:
                _nvpair(attributes, f"status-{node_id}-master-{primitive}", f"master-{primitive}", PROMOTION_SCORE)
    return ET.tostring(root, encoding="unicode")


def simulated_cib(cluster: Cluster) -> tuple[str, list[str]]:
    """The cluster's CIB (secrets redacted) with every member online, and the members."""
    inventory = build_inventory(cluster)
    members = inventory.groups.get("cluster_members", [])
    if not members:
        raise InvalidInput([Problem("nodes", "no cluster members: there is no Pacemaker cluster to simulate",
                                    "simulate needs nodes with role member")], title="cannot simulate")  # fmt: skip
    [cib] = [f.content for f in render_all(inventory) if f.dest == CIB_FILE]
    return with_online_status(cib, inventory), members


def _placement(revised: ET.Element) -> Placement:
    """Resource id -> the nodes it runs on (clone instances share the id; a promoted
    instance's node is written `NODE (promoted)`)."""
    placement: Placement = {}
    for resource in revised.iter("resource"):
        suffix = " (promoted)" if resource.get("role") == "Promoted" else ""
        nodes = [f"{n.get('name', '')}{suffix}" for n in resource.iter("node")]
        placement.setdefault(resource.get("id", ""), []).extend(nodes)
    return {rid: sorted(nodes) for rid, nodes in placement.items()}


def run_transition(cib: Path, *events: str) -> Placement:
    """Let the scheduler react once to `events` (crm_simulate options), save the new status back
    into `cib`, and return where each resource runs afterwards."""
    out = subprocess.run(
        [crm_simulate(), "--xml-file", str(cib), "--simulate", "--save-output", str(cib), "--output-as", "xml",
         *events],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    revised = ET.fromstring(out.stdout).find("revised_cluster_status/resources") if out.stdout else None
    if out.returncode != 0 or revised is None:
        raise OperationFailed(f"crm_simulate failed ({out.returncode}): {out.stderr or out.stdout}")
    return _placement(revised)


def settle(cib: Path, *events: str) -> Placement:
    """React to `events`, then run transitions until nothing changes: one transition may only
    prepare the next (e.g. promote DRBD, then start what needs it on the promoted node)."""
    placement = run_transition(cib, *events)
    for _ in range(SETTLE_ROUNDS):
        following = run_transition(cib)
        if following == placement:
            return placement
        placement = following
    raise OperationFailed(f"the scheduler does not settle: resources still move after {SETTLE_ROUNDS} transitions")


@dataclass(frozen=True)
class Resources:
    """What the CIB's configuration says about resources, as `--fail` and the verdicts need it."""

    primitives: dict[str, int]  # id -> monitor interval in ms (0: none, a failed probe then)
    groups: dict[str, list[str]]  # group or clone id -> its primitives
    meant_stopped: set[str]  # primitives under target-role Stopped
    avoids: dict[str, set[str]]  # fence device -> the nodes it may never run on

    @classmethod
    def read(cls, cib: str) -> Resources:
        root = ET.fromstring(cib)
        primitives = {p.get("id", ""): _monitor_ms(p) for p in root.iter("primitive")}
        groups = {g.get("id", ""): [p.get("id", "") for p in g.iter("primitive")]
                  for tag in ("group", "clone") for g in root.iter(tag)}  # fmt: skip
        stopped = {p.get("id", "") for r in root.iter() if _target_stopped(r) for p in r.iter("primitive")}
        fencing = {p.get("id", "") for p in root.iter("primitive") if p.get("class") == "stonith"}
        avoids: dict[str, set[str]] = {}
        for loc in root.iter("rsc_location"):
            if loc.get("rsc") in fencing and loc.get("score") == "-INFINITY" and loc.get("node"):
                avoids.setdefault(loc.get("rsc", ""), set()).add(loc.get("node", ""))
        return cls(primitives, groups, stopped, avoids)


def _monitor_ms(primitive: ET.Element) -> int:
    monitor = primitive.find("operations/op[@name='monitor']")
    return 0 if monitor is None else interval_us(monitor.get("interval", "0")) // 1000


def _target_stopped(element: ET.Element) -> bool:
    return element.find("meta_attributes/nvpair[@name='target-role'][@value='Stopped']") is not None


@dataclass(frozen=True)
class Failures:
    """What `--fail` names: lost members, and primitives whose monitor fails."""

    nodes: list[str]
    primitives: list[str]


def parse_failures(names: tuple[str, ...], members: list[str], resources: Resources) -> Failures:
    """Sort `--fail` values into members and primitives (a group or clone: every primitive in
    it); exit 2 naming every unknown value and the valid ones."""
    nodes = [n for n in names if n in members]
    unknown = [n for n in names if n not in members and n not in resources.primitives and n not in resources.groups]
    if unknown or not names:
        valid = f"members: {', '.join(members)}; resources: {', '.join([*resources.primitives, *resources.groups])}"
        problems = [Problem("--fail", f"{n!r} is neither a member nor a resource", valid) for n in unknown]
        raise InvalidInput(problems or [Problem("--fail", "name at least one member or resource", valid)],
                           title="cannot simulate")  # fmt: skip
    primitives = [p for n in names if n not in members for p in resources.groups.get(n, [n])]
    return Failures(nodes, list(dict.fromkeys(primitives)))


def failure_events(failures: Failures, now: Placement, resources: Resources) -> list[str]:
    """crm_simulate options: each lost member fails (unclean, fenced); each failed primitive's
    monitor reports `not running` where it is promoted, else on the first node it runs on."""
    events = [option for node in failures.nodes for option in ("--node-fail", node)]
    for primitive in failures.primitives:
        running = now.get(primitive, [])
        if not running:
            raise InvalidInput([Problem("--fail", f"{primitive!r} runs nowhere with every member online: "
                                        "there is nothing to fail")], title="cannot simulate")  # fmt: skip
        node = next((n for n in running if n.endswith(" (promoted)")), running[0]).removesuffix(" (promoted)")
        events += ["--op-inject", f"{primitive}_monitor_{resources.primitives[primitive]}@{node}={NOT_RUNNING}"]
    return events


def quorate(cluster: Cluster, survivors: int) -> bool:
    """Whether the surviving members keep quorum: a majority of the votes (an arbitrator's
    qdevice adds one, and is assumed to survive), or the last one of two with two_node."""
    members = len(cluster.members)
    if cluster.two_node:
        return survivors >= 1
    extra = 1 if cluster.corosync.qdevice is not None else 0
    return 2 * (survivors + extra) > members + extra


@dataclass(frozen=True)
class Row:
    """One resource through the scenario, and what its outcome means."""

    resource: str
    now: list[str]
    after: list[str]
    back: list[str]
    verdict: str

    @property
    def fails(self) -> bool:
        return self.verdict == "STOPPED"


def verdict(resource: str, now: list[str], after: list[str], survivors: set[str], resources: Resources) -> str:
    """stays, moved (runs on a node it did not), STOPPED; a resource meant to be stopped, or a
    fence device with only its own targets left alive (nobody to fence them from), is no outage."""
    if resource in resources.meant_stopped:
        return "stopped (target-role)"
    if not after:
        return "not needed" if survivors <= resources.avoids.get(resource, set()) else "STOPPED"
    return "stays" if set(after) <= set(now) else "moved"  # a clone losing an instance stays


@dataclass(frozen=True)
class Scenario:
    failures: Failures
    quorate: bool
    rows: list[Row]

    @property
    def fails(self) -> bool:
        return any(row.fails for row in self.rows)


def simulate(cluster: Cluster, names: tuple[str, ...]) -> Scenario:
    """Everything online, then the failures, then the lost members back (failback), each step
    settled by the scheduler, in a private directory removed afterwards."""
    crm_simulate()  # say so before any work when it is missing
    cib, members = simulated_cib(cluster)
    resources = Resources.read(cib)
    failures = parse_failures(names, members, resources)
    survivors = set(members) - set(failures.nodes)
    if not survivors:
        raise InvalidInput([Problem("--fail", "every member fails: nothing is left to run anything",
                                    "fail fewer members")], title="cannot simulate")  # fmt: skip
    keeps_quorum = quorate(cluster, len(survivors))
    with tempfile.TemporaryDirectory(prefix="halab-simulate-") as private:  # mkdtemp: mode 0700
        path = Path(private) / "cib.xml"
        path.write_text(cib)
        now = settle(path)
        quorum = [] if keeps_quorum else ["--quorum", "false"]
        after = settle(path, *failure_events(failures, now, resources), *quorum)
        back = settle(path, *[o for node in failures.nodes for o in ("--node-up", node)], "--quorum", "true")
    rows = [Row(rid, now[rid], after.get(rid, []), back.get(rid, []),
                verdict(rid, now[rid], after.get(rid, []), survivors, resources)) for rid in now]  # fmt: skip
    return Scenario(failures, keeps_quorum, rows)


def as_json(scenario: Scenario) -> dict[str, object]:
    """The scenario as `--json` prints it."""
    return {
        "failed": {"nodes": scenario.failures.nodes, "resources": scenario.failures.primitives},
        "quorate_after_failure": scenario.quorate,
        "resources": [_json_row(row) for row in scenario.rows],
        "stopped": [r.resource for r in scenario.rows if r.fails],
    }


def _json_row(row: Row) -> dict[str, object]:
    return {"resource": row.resource, "now": row.now, "after_failure": row.after, "after_return": row.back,
            "verdict": row.verdict}  # fmt: skip


def table(scenario: Scenario) -> Table:
    """One row per resource: where it runs now, after the failures, after the members return."""
    lost = ", ".join([*scenario.failures.nodes, *scenario.failures.primitives])
    quorum = "" if scenario.quorate else " (quorum lost)"
    result = Table(title=f"failing {lost}{quorum}")
    for column in ("resource", "now", "after failure", "after return", "verdict"):
        result.add_column(column)
    for row in scenario.rows:
        style = "red" if row.fails else ("yellow" if row.verdict == "moved" else "")
        cells = [", ".join(nodes) or "-" for nodes in (row.now, row.after, row.back)]
        result.add_row(row.resource, *cells, row.verdict, style=style)
    return result

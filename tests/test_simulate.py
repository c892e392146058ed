"""`halab simulate`: Pacemaker's scheduler (crm_simulate) on every example and on a 5-node N+1
cluster: node loss, two losses, a resource failure, failback; the CLI's exit codes and JSON."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from halab import simulate as sim
from halab.errors import InvalidInput
from halab.validation import load_cluster

from .conftest import EXAMPLES

pytestmark = pytest.mark.skipif(shutil.which("crm_simulate") is None, reason="pacemaker-cli-utils not installed")

WEB_AP = Path(EXAMPLES[0]).with_name("web-ap.yml")
SPARE = "n5"
SERVICES = {f"s{i}": f"n{i}" for i in range(1, 5)}  # service -> its preferred node


def n_plus_one() -> dict[str, Any]:
    """Five members; four services (a VIP and a Dummy in a group) each preferring its own node
    (500: above the group's stickiness, 2 x 100, so it fails back); n5 is the spare. Every node
    has room for one service, which its first member takes (a group stops from the first member
    that cannot run: the VIP does not come up without its service). With utilization, Pacemaker
    keeps services apart and stops one when two nodes are lost. Anti-colocation between the
    groups does not do this (Pacemaker 2.1.5: -INFINITY puts no service on its own node, -1000
    doubles services up; docs/simulate.md)."""
    resources: list[dict[str, Any]] = []
    for index, service in enumerate(SERVICES, start=1):
        resources += [
            {"name": f"{service}-vip", "type": "ip", "address": f"198.18.72.{100 + index}",
             "utilization": {"services": 1}},
            {"name": f"{service}-app", "type": "primitive", "agent": "ocf:heartbeat:Dummy"},
            {"name": service, "type": "group", "members": [f"{service}-vip", f"{service}-app"]},
        ]
    return {
        "name": "nplus1",
        "networks": [{"name": "lan", "subnet": "198.18.72.0/24"}],
        "nodes": [{"name": f"n{i}", "addresses": {"lan": f"198.18.72.{10 + i}"}, "utilization": {"services": 1}}
                  for i in range(1, 6)],
        "fencing": "disabled",
        "resources": resources,
        "constraints": {"location": [{"resource": s, "node": n, "score": 500} for s, n in SERVICES.items()]},
        "pacemaker": {"placement_strategy": "utilization"},
    }  # fmt: skip


@pytest.fixture
def nplus1(tmp_path: Path) -> Path:
    path = tmp_path / "nplus1.yml"
    path.write_text(yaml.safe_dump(n_plus_one()))
    return path


def run(path: Path, *names: str) -> sim.Scenario:
    return sim.simulate(load_cluster(path, warn=lambda _: None), names)


def nodes(scenario: sim.Scenario, step: str) -> dict[str, list[str]]:
    """Resource -> its nodes at `step` (now, after, back)."""
    return {row.resource: getattr(row, step) for row in scenario.rows}


def own_nodes(scenario: sim.Scenario) -> dict[str, list[str]]:
    now = nodes(scenario, "now")
    return {service: now[f"{service}-app"] for service in SERVICES}


def test_everything_runs_on_its_own_node(nplus1: Path) -> None:
    assert own_nodes(run(nplus1, SPARE)) == {s: [n] for s, n in SERVICES.items()}


@pytest.mark.parametrize(("service", "node"), SERVICES.items())
def test_losing_a_node_moves_its_service_to_the_spare_and_back(nplus1: Path, service: str, node: str) -> None:
    scenario = run(nplus1, node)
    moved = {row.resource: row.after for row in scenario.rows if row.verdict != "stays"}
    assert moved == {f"{service}-vip": [SPARE], f"{service}-app": [SPARE]}
    assert not scenario.fails
    assert nodes(scenario, "back") == nodes(scenario, "now")  # failback: 500 > 2 x stickiness 100


def test_losing_the_spare_moves_nothing(nplus1: Path) -> None:
    assert {row.verdict for row in run(nplus1, SPARE).rows} == {"stays"}


def test_losing_two_nodes_leaves_one_service_stopped(nplus1: Path) -> None:
    scenario = run(nplus1, "n1", "n2")
    stopped = {row.resource for row in scenario.rows if row.fails}
    assert stopped in ({"s1-vip", "s1-app"}, {"s2-vip", "s2-app"}), stopped
    assert scenario.quorate  # 3 of 5


def test_losing_three_of_five_loses_quorum_and_stops_everything(nplus1: Path) -> None:
    scenario = run(nplus1, "n1", "n2", "n3")
    assert not scenario.quorate
    assert all(row.fails for row in scenario.rows)
    assert nodes(scenario, "back") == nodes(scenario, "now")


def test_a_failed_resource_restarts_in_place(nplus1: Path) -> None:
    """Pacemaker's default migration-threshold (INFINITY): recovery restarts it where it was."""
    resources = sim.Resources({"s1-app": 10000}, {}, set(), {})
    events = sim.failure_events(sim.Failures([], ["s1-app"]), {"s1-app": ["n1"]}, resources)
    assert events == ["--op-inject", "s1-app_monitor_10000@n1=7"]
    scenario = run(nplus1, "s1-app")
    assert scenario.failures.primitives == ["s1-app"]
    assert {row.verdict for row in scenario.rows} == {"stays"}


def test_a_group_fails_each_of_its_primitives(nplus1: Path) -> None:
    assert run(nplus1, "s3").failures.primitives == ["s3-vip", "s3-app"]


def test_unknown_names_are_refused_before_anything_runs(nplus1: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        run(nplus1, "n9", "n1", "nothing")
    assert [p.message for p in caught.value.problems] == [
        "'n9' is neither a member nor a resource", "'nothing' is neither a member nor a resource"]
    assert "members: n1, n2, n3, n4, n5; resources: s1-vip" in caught.value.problems[0].hint


def test_failing_every_member_is_refused(nplus1: Path) -> None:
    with pytest.raises(InvalidInput, match="every member fails"):
        run(nplus1, *(f"n{i}" for i in range(1, 6)))


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])
def test_every_example_survives_the_loss_of_each_member(example: Path) -> None:
    """Every example with a Pacemaker cluster keeps all its resources through any one loss and
    gets them all back; an example without members is refused, saying why."""
    cluster = load_cluster(example, warn=lambda _: None)
    if not cluster.members:
        with pytest.raises(InvalidInput, match="no cluster members"):
            sim.simulate(cluster, ("anything",))
        return
    for member in cluster.members:
        scenario = sim.simulate(cluster, (member.name,))
        assert not scenario.fails, (member.name, [r for r in scenario.rows if r.fails])
        assert all(row.back for row in scenario.rows), member.name


def test_drbd_is_promoted_on_the_survivor() -> None:
    scenario = sim.simulate(load_cluster(WEB_AP), ("ap1",))
    drbd = {row.resource: row for row in scenario.rows}["drbd-www"]
    assert (drbd.now, drbd.after) == (["ap1 (promoted)", "ap2"], ["ap2 (promoted)"])


def test_the_simulated_cib_holds_no_secret() -> None:
    """Fence passwords are redacted before the CIB reaches crm_simulate."""
    example = WEB_AP
    cib, _ = sim.simulated_cib(load_cluster(example))
    assert 'name="password" value="REDACTED"' in cib and "lookup(" not in cib


def test_the_private_directory_is_removed(nplus1: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Path] = []
    original = sim.run_transition

    def spy(cib: Path, *events: str) -> sim.Placement:
        seen.append(cib)
        assert cib.parent.stat().st_mode & 0o077 == 0
        return original(cib, *events)

    monkeypatch.setattr(sim, "run_transition", spy)
    run(nplus1, "n1")
    assert seen and not seen[0].parent.exists()


def test_cli_table_and_exit_codes(halab, nplus1: Path) -> None:
    code, out, _ = halab("simulate", nplus1, "--fail", "n2")
    assert code == 0 and "after return" in out and "moved" in out
    code, _, err = halab("simulate", nplus1, "--fail", "n1", "--fail", "n2")
    assert code == 1 and "left stopped after the failure: s" in err


def test_cli_json(halab, nplus1: Path) -> None:
    code, out, _ = halab("simulate", nplus1, "--fail", "n4", "--json")
    result = json.loads(out)
    assert code == 0 and result["failed"] == {"nodes": ["n4"], "resources": []} and result["stopped"] == []
    row = {r["resource"]: r for r in result["resources"]}["s4-app"]
    assert row == {"resource": "s4-app", "now": ["n4"], "after_failure": [SPARE], "after_return": ["n4"],
                   "verdict": "moved"}  # fmt: skip


def test_cli_unknown_name_exits_2(halab, nplus1: Path) -> None:
    code, out, err = halab("simulate", nplus1, "--fail", "n7")
    assert code == 2 and not out and "'n7' is neither a member nor a resource" in err and "n5" in err


def test_cli_without_crm_simulate_names_the_package(halab, nplus1: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sim.shutil, "which", lambda _: None)
    code, _, err = halab("simulate", nplus1, "--fail", "n1")
    assert code == 2 and "pacemaker-cli-utils" in err

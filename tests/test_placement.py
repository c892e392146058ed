"""Where Pacemaker places resources, computed by crm_simulate on the rendered CIB with every
member online: failback (and halab's warning agreeing with it), location rules, node
attributes and utilization, resource sets."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from halab.simulate import run_transition as simulate
from halab.simulate import simulated_cib
from halab.validation import load_cluster

from .test_pacemaker import DATA

pytestmark = pytest.mark.skipif(shutil.which("crm_simulate") is None, reason="pacemaker-cli-utils not installed")

NODES = ["pc1", "pc2", "pc3"]


def cluster_doc(**sections: Any) -> dict[str, Any]:
    """Three members without fencing, plus the given top-level sections."""
    return {
        "name": "sim",
        "networks": [{"name": "lan", "subnet": "198.18.71.0/24"}],
        "nodes": [{"name": n, "addresses": {"lan": f"198.18.71.{11 + i}"}} for i, n in enumerate(NODES)],
        "fencing": "disabled",
        **sections,
    }


def load(tmp_path: Path, doc: dict[str, Any] | Path, warnings: list[str] | None = None) -> Path:
    """Validate `doc` (its warnings into `warnings`) and write its CIB, every member online."""
    source = doc if isinstance(doc, Path) else tmp_path / "cluster.yml"
    if not isinstance(doc, Path):
        source.write_text(yaml.safe_dump(doc))
    cib, _ = simulated_cib(load_cluster(source, warn=(warnings if warnings is not None else []).append))
    path = tmp_path / "cib.xml"
    path.write_text(cib)
    return path


GROUP = [
    {"name": "vip", "type": "ip", "address": "198.18.71.100"},
    {"name": "marker", "type": "primitive", "agent": "ocf:heartbeat:Dummy"},
]


@pytest.mark.parametrize(
    ("group_meta", "score", "second", "fails_back"),
    [({}, 200, 0, False), ({}, 201, 0, True), ({"resource-stickiness": 150}, 300, 0, False),
     ({"resource-stickiness": 150}, 301, 0, True), ({"resource-stickiness": "INFINITY"}, "INFINITY", 0, False),
     ({}, 300, 100, False), ({}, 301, 100, True)],
)  # fmt: skip
def test_failback_needs_more_than_the_stickiness_of_every_member(
    tmp_path: Path, group_meta: dict[str, Any], score: int | str, second: int, fails_back: bool
) -> None:
    """The preferred node's score must exceed the current node's (pc2 gets `second`, so the
    group fails over there) plus each member's stickiness (default 100 from resource_defaults,
    or the group's, which members inherit): halab warns exactly when Pacemaker keeps the group away."""
    locations = [{"resource": "site", "node": "pc1", "score": score}]
    locations += [{"resource": "site", "node": "pc2", "score": second}] if second else []
    doc = cluster_doc(
        resources=[*GROUP, {"name": "site", "type": "group", "members": ["vip", "marker"], "meta": group_meta}],
        constraints={"location": locations},
    )
    warnings: list[str] = []
    cib = load(tmp_path, doc, warnings)
    assert simulate(cib)["marker"] == ["pc1"]
    assert simulate(cib, "--node-down", "pc1")["marker"] != ["pc1"]
    back = simulate(cib, "--node-up", "pc1")
    assert (back["marker"] == ["pc1"]) is fails_back, back
    assert bool(warnings) is not fails_back, warnings
    if warnings:
        assert "constraints.location[0].score: 'site' does not fail back to pc1" in warnings[0]


def test_location_rules_choose_nodes_by_attribute(tmp_path: Path) -> None:
    """Without its rules, Pacemaker would spread vip, vip-host, site over pc1, pc2, pc3."""
    placement = simulate(load(tmp_path, DATA))
    assert placement["vip-host"] == ["pc3"]  # score 200 where #uname eq pc3
    assert placement["fs"] == placement["web"] == ["pc1"]  # -INFINITY where pc2 or pc3


def start_inputs(cib: Path) -> dict[str, set[str]]:
    """For each resource the next transition starts, the resources whose start it waits for."""
    graph = cib.with_name("graph.xml")
    run = ["crm_simulate", "--xml-file", str(cib), "--run", "--save-graph", str(graph)]
    subprocess.run(run, capture_output=True, check=True)
    inputs: dict[str, set[str]] = {}
    for synapse in ET.parse(graph).getroot().iter("synapse"):
        action = synapse.find("action_set/rsc_op[@operation='start']/primitive")
        if action is not None:
            triggers = synapse.findall("inputs/trigger/rsc_op[@operation='start']")
            inputs[action.get("id", "")] = {t.get("operation_key", "").removesuffix("_start_0") for t in triggers}
    return inputs


def test_colocation_and_order_sets(tmp_path: Path) -> None:
    cib = load(tmp_path, DATA)
    waits = start_inputs(cib)
    assert waits["d3"] == {"d1", "d2"} and waits["d2"] == set()  # then the set [d3]; [d1, d2] unordered
    placement = simulate(cib)
    assert placement["d1"] == placement["d2"] == placement["d3"]  # a sequential set: one chain
    assert placement["a1"] == ["pc1"] and placement["a2"] != ["pc1"]  # both prefer pc1; -INFINITY apart


def dummy(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "type": "primitive", "agent": "ocf:heartbeat:Dummy", **fields}


def with_nodes(doc: dict[str, Any], **per_node: dict[str, Any]) -> dict[str, Any]:
    """`doc` with fields added to some nodes (by name)."""
    doc["nodes"] = [node | per_node.get(node["name"], {}) for node in doc["nodes"]]
    return doc


def test_rules_read_node_attributes(tmp_path: Path) -> None:
    """ssd eq true puts d1 on pc3; prio compared as an integer (as a string, "10" and "20" are
    below "9") matches every node, and d2 takes each node's prio as its score: pc3 (30)."""
    doc = with_nodes(
        cluster_doc(resources=[dummy("d1"), dummy("d2")], constraints={"location": [
            {"resource": "d1", "rules": [{"score": 100, "expressions": [
                {"attribute": "ssd", "operation": "eq", "value": "true"}]}]},
            {"resource": "d2", "rules": [{"score_attribute": "prio", "expressions": [
                {"attribute": "prio", "operation": "gt", "value": 9, "type": "integer"}]}]},
        ]}),
        pc1={"attributes": {"prio": 10}}, pc2={"attributes": {"prio": 20}},
        pc3={"attributes": {"prio": 30, "ssd": True}},
    )  # fmt: skip
    placement = simulate(load(tmp_path, doc))
    assert placement["d1"] == ["pc3"] and placement["d2"] == ["pc3"], placement


@pytest.mark.parametrize("strategy", ["utilization", "minimal", "balanced"])
def test_utilization_keeps_resources_within_capacity(tmp_path: Path, strategy: str) -> None:
    """pc3 alone has room for a 2-cpu resource; the 1-cpu ones fill the rest."""
    resources = [dummy("big1", utilization={"cpu": 2}), dummy("big2", utilization={"cpu": 2}),
                 dummy("small", utilization={"cpu": 1})]  # fmt: skip
    doc = with_nodes(
        cluster_doc(resources=resources, pacemaker={"placement_strategy": strategy}),
        pc1={"utilization": {"cpu": 1}}, pc2={"utilization": {"cpu": 1}}, pc3={"utilization": {"cpu": 4}},
    )  # fmt: skip
    placement = simulate(load(tmp_path, doc))
    assert placement["big1"] == placement["big2"] == ["pc3"], placement
    assert placement["small"] in (["pc1"], ["pc2"]), placement


def test_utilization_without_a_strategy_is_ignored_and_warned_about(tmp_path: Path) -> None:
    resources = [dummy("big1", utilization={"cpu": 2}), dummy("big2", utilization={"cpu": 2})]
    doc = with_nodes(cluster_doc(resources=resources), pc3={"utilization": {"cpu": 4}})
    warnings: list[str] = []
    placement = simulate(load(tmp_path, doc, warnings))
    assert placement["big1"] != placement["big2"]  # spread as if nothing were needed
    assert "nodes[2].utilization: utilization is ignored with placement strategy default" in warnings[0]


def test_a_capacity_not_listed_is_none(tmp_path: Path) -> None:
    """Only pc3 lists cpu: two 1-cpu resources fill it, the others run nowhere; a resource that
    needs more than any member offers is warned about."""
    resources = [dummy(f"r{i}", utilization={"cpu": 1}) for i in range(4)] + [dummy("huge", utilization={"cpu": 3})]
    doc = with_nodes(cluster_doc(resources=resources, pacemaker={"placement_strategy": "utilization"}),
                     pc3={"utilization": {"cpu": 2}})  # fmt: skip
    warnings: list[str] = []
    placement = simulate(load(tmp_path, doc, warnings))
    assert sorted(placement[f"r{i}"] for i in range(4)) == [[], [], ["pc3"], ["pc3"]], placement
    assert placement["huge"] == []
    assert "resources[4].utilization.cpu: no member offers cpu 3: 'huge' can never run" in warnings[0]

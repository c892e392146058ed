"""Fencing in the cluster file: devices, levels, fence races, lab BMC ports; and what the
inventory and CIB make of them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from halab.errors import InvalidInput
from halab.inventory import build_inventory
from halab.validation import load_cluster, validate_document

from .conftest import ROOT

WEB = yaml.safe_load((ROOT / "examples" / "web-ap-nodrbd.yml").read_text())


def _problems(doc: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        validate_document(doc, {}, "t.yml")
    return {p.path: p.message for p in caught.value.problems}


def _with(**fencing: Any) -> dict[str, Any]:
    doc = copy.deepcopy(WEB)
    doc["fencing"].update(fencing)
    return doc


@pytest.mark.parametrize(("levels", "path", "words"), [
    ({"web1": [["ghost"]]}, "fencing.levels.web1[0][0]", "unknown fence device 'ghost'"),
    ({"web1": [["bmc-web2"]]}, "fencing.levels.web1[0][0]", "cannot fence web1"),
    ({"nobody": [["bmc-web1"]]}, "fencing.levels.nobody", "not a cluster member"),
    ({"web1": [["bmc-web1", "bmc-web1"]]}, "fencing.levels.web1[0][1]", "listed twice"),
    ({"web1": [["bmc-web1"]] * 10}, "fencing.levels.web1", "1 to 9"),
    ({"web1": [[]]}, "fencing.levels.web1[0]", "at least 1 item"),
])  # fmt: skip
def test_bad_levels_are_refused_with_their_path(levels: dict, path: str, words: str) -> None:
    problems = _problems(_with(levels=levels))
    assert path in problems and words in problems[path], problems


def test_unknown_agent_gets_a_suggestion() -> None:
    doc = _with()
    doc["fencing"]["devices"][0]["agent"] = "fence_ipmilam"
    problems = _problems(doc)
    assert "is not a fence agent of Debian 12 or 13" in problems["fencing.devices[0].agent"]


def test_a_lab_bmc_port_must_belong_to_the_device_target() -> None:
    doc = _with()
    doc["fencing"]["devices"][1]["params"]["ipport"] = 6330  # web1's PDU outlet
    problems = _problems(doc)
    assert "is the lab PDU outlet of web1, but the device fences web2" in problems["fencing.devices[1].params.ipport"]


def test_a_member_no_device_can_fence_is_refused() -> None:
    doc = _with()
    doc["fencing"]["devices"] = [d for d in doc["fencing"]["devices"] if "web2" not in d["targets"]]
    doc["fencing"]["levels"] = {"web1": [["bmc-web1"]]}
    assert "no fence device can fence member 'web2'" in _problems(doc)["fencing.devices"]


def _pacemaker(doc: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "c.yml"
    path.write_text(yaml.safe_dump(doc))
    return build_inventory(load_cluster(path)).group_vars["all"]


def test_two_nodes_default_to_the_priority_race(tmp_path: Path) -> None:
    pcmk = _pacemaker(_with(), tmp_path)
    assert pcmk["pacemaker_cluster_properties"]["priority-fencing-delay"] == "10s"
    assert pcmk["pacemaker_rsc_defaults"]["priority"] == "1"
    fence = [p for p in pcmk["pacemaker_primitives"] if p["class"] == "stonith"]
    assert {p["params"]["pcmk_delay_max"] for p in fence} == {"5s"}
    assert pcmk["pacemaker_fencing_levels"][:2] == [
        {"target": "web1", "index": 1, "devices": ["bmc-web1"]},
        {"target": "web1", "index": 2, "devices": ["pdu-web1"]},
    ]


@pytest.mark.parametrize(("race", "priority", "delay"), [("random", False, True), ("none", False, False)])
def test_other_races(tmp_path: Path, race: str, priority: bool, delay: bool) -> None:
    pcmk = _pacemaker(_with(race=race), tmp_path)
    assert ("priority-fencing-delay" in pcmk["pacemaker_cluster_properties"]) is priority
    assert ("priority" in pcmk["pacemaker_rsc_defaults"]) is priority
    fence = [p for p in pcmk["pacemaker_primitives"] if p["class"] == "stonith"]
    assert all(("pcmk_delay_max" in p["params"]) is delay for p in fence)


def test_three_members_or_a_quorum_device_have_no_race() -> None:
    for example in ("three-node-aa.yml", "arbiter.yml"):
        pcmk = build_inventory(load_cluster(ROOT / "examples" / example)).group_vars["all"]
        assert "priority-fencing-delay" not in pcmk["pacemaker_cluster_properties"], example
        assert all("pcmk_delay_max" not in p["params"] for p in pcmk["pacemaker_primitives"])


def _three(tmp_path: Path, leaving: bool) -> Any:
    doc = _with()
    doc["nodes"].append({"name": "web0", "addresses": {"lan": "198.18.50.10", "hb": "198.18.51.10"},
                         "leaving": leaving})  # fmt: skip
    doc["corosync"]["quorum"] = {"two_node": True} if leaving else {}
    if not leaving:
        doc["fencing"]["devices"].append({"name": "bmc-web0", "agent": "fence_ipmilan", "targets": ["web0"],
                                          "params": {"ip": "198.18.9.9"}})  # fmt: skip
    path = tmp_path / "c.yml"
    path.write_text(yaml.safe_dump(doc))
    return load_cluster(path)


def test_a_leaving_member_keeps_the_node_ids_and_leaves_the_groups(tmp_path: Path) -> None:
    before, after = _three(tmp_path, False), _three(tmp_path, True)
    assert after.node_ids() == before.node_ids() == {"web1": 1, "web2": 2, "web0": 3}
    inventory = build_inventory(after)
    assert inventory.groups["cluster_members"] == ["web1", "web2"]
    assert inventory.groups["cluster_leaving"] == ["web0"]
    assert after.two_node and after.fence_race == "priority"  # two members remain
    assert inventory.host_vars["web0"]["ansible_host"] == "198.18.50.10"  # still reachable


def test_a_leaving_member_may_not_stay_referenced() -> None:
    doc = _with()
    doc["nodes"][1]["leaving"] = True
    problems = _problems(doc)
    assert "'web2' is not a cluster member" in problems["fencing.devices[1].targets[0]"]

"""Pacemaker features of the cluster file, as they land in the rendered CIB
(tests/data/pacemaker.yml uses each; crm_verify checks it in tests/roles)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from halab.inventory import build_inventory
from halab.render import CIB_FILE, render_all
from halab.validation import load_cluster

DATA = Path(__file__).parent / "data" / "pacemaker.yml"


def render_cib(path: Path = DATA) -> ET.Element:
    [cib] = [f.content for f in render_all(build_inventory(load_cluster(path))) if f.dest == CIB_FILE]
    return ET.fromstring(cib)


@pytest.fixture(scope="module")
def cib() -> ET.Element:
    return render_cib()


def _params(cib: ET.Element, rid: str) -> dict[str, str]:
    pairs = cib.findall(f".//primitive[@id='{rid}']/instance_attributes/nvpair")
    return {p.get("name", ""): p.get("value", "") for p in pairs}


def test_ip_netmask_and_nic_default_to_the_network(cib: ET.Element) -> None:
    assert _params(cib, "vip") == {"ip": "198.18.70.100", "cidr_netmask": "24", "nic": "ens3"}


def test_ip_netmask_and_nic_as_written(cib: ET.Element) -> None:
    assert _params(cib, "vip-host") == {"ip": "198.18.70.101", "cidr_netmask": "32", "nic": "ens3.70"}


def test_operations_of_any_name_with_on_fail(cib: ET.Element) -> None:
    ops = {op.get("id"): op.attrib for op in cib.findall(".//primitive[@id='worker']/operations/op")}
    assert ops["worker-reload-agent-interval-0s"] == {
        "id": "worker-reload-agent-interval-0s", "name": "reload-agent", "interval": "0s", "timeout": "30s",
        "on-fail": "ignore"}  # fmt: skip
    assert ops["worker-monitor-interval-10s"]["on-fail"] == "demote"
    assert ops["worker-stop-interval-0s"]["on-fail"] == "block"


@pytest.mark.parametrize(
    ("kind", "rid", "meta"),
    [
        ("ip", "vip", {"resource-stickiness": "50"}),
        ("primitive", "worker", {"migration-threshold": "3"}),
        ("filesystem", "fs", {"allow-migrate": "false"}),
        ("apache", "web", {"failure-timeout": "60s"}),
        ("group", "site", {"target-role": "Started"}),
        ("clone", "worker-clone", {"interleave": "true", "promotable": "true", "notify": "true"}),
    ],
)
def test_meta_attributes_on_every_kind(cib: ET.Element, kind: str, rid: str, meta: dict[str, str]) -> None:
    """Booleans are written as Pacemaker writes them (`true`, never Python's `True`)."""
    pairs = cib.findall(f".//*[@id='{rid}']/meta_attributes/nvpair")
    assert {p.get("name"): p.get("value") for p in pairs} == meta, kind


def test_node_sets_use_the_corosync_node_ids(tmp_path: Path) -> None:
    """An explicit id is kept, the others are numbered after it (Cluster.node_ids), in the
    <node> element and in the ids of the sets halab owns."""
    text = DATA.read_text().replace("{name: pc2, addresses", "{name: pc2, id: 7, addresses")
    (tmp_path / "c.yml").write_text(text)
    nodes = {n.get("uname"): n for n in render_cib(tmp_path / "c.yml").iter("node")}
    assert {name: node.get("id") for name, node in nodes.items()} == {"pc1": "1", "pc2": "7", "pc3": "2"}
    assert [s.get("id") for s in nodes["pc2"]] == ["halab-node-7-instance_attributes"]
    assert [s.get("id") for s in nodes["pc3"]] == ["halab-node-2-utilization"]

"""The halab_cib module against a real CIB file (CIB_file=...): the Pacemaker tools do the
work exactly as on a cluster, only the CIB lives in a file. Checks first apply, no-op
re-run (the CIB given as a file or inline), Pacemaker-owned properties kept, hand-made
changes reverted, operator state (moves, bans, standby, maintenance) kept and reset, invalid
CIB refused without a change, check mode, and secrets redacted from --diff output and from
the result of an inline CIB."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from halab.inventory import build_inventory
from halab.validation import load_cluster

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "roles" / "pacemaker" / "library"

pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in ("cibadmin", "crm_diff", "crm_verify")),
    reason="needs pacemaker-cli-utils and ansible")

try:
    from halab.render import host_context, make_environment
except ImportError:  # pragma: no cover
    from tests.roles.test_cluster_templates import host_context, make_environment


def render_cib(example: str | Path, tmp_path: Path, **overrides: object) -> Path:
    """The CIB of an example (a name in examples/) or of a cluster file (a Path)."""
    source = example if isinstance(example, Path) else ROOT / "examples" / example
    inv = build_inventory(load_cluster(source))
    inv.group_vars["all"].update(overrides)
    host = inv.groups["cluster_members"][0]
    text = make_environment().get_template("pacemaker/templates/cib.xml.j2").render(
        host_context(inv, host))
    path = tmp_path / f"{Path(example).name}.cib.xml"
    path.write_text(text)
    return path


@pytest.fixture
def live(tmp_path: Path) -> Path:
    path = tmp_path / "live.xml"
    path.write_text(subprocess.run(["cibadmin", "--empty"], check=True, capture_output=True,
                                   text=True).stdout)
    for name, value in (("dc-version", "2.1.5-test"), ("cluster-infrastructure", "corosync")):
        _tool(path, "crm_attribute", "--type", "crm_config", "--name", name, "--update", value)
    return path


def _tool(live: Path, *argv: str) -> str:
    env = dict(os.environ, CIB_file=str(live))
    return subprocess.run(argv, check=True, capture_output=True, text=True, env=env).stdout


def run_module(live: Path, src: Path, check: bool = False, diff: bool = False, inline: bool = False,
               **params: object) -> dict:
    """Run the module the way Ansible does (an args file), against the CIB file `live`;
    inline passes the rendered CIB as the content parameter instead of a path."""
    args = src.parent / "args.json"
    given = {"content": src.read_text()} if inline else {"src": str(src)}
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {
        **given, **params, "_ansible_check_mode": check, "_ansible_diff": diff}}))
    env = dict(os.environ, CIB_file=str(live))
    res = subprocess.run([sys.executable, str(LIBRARY / "halab_cib.py"), str(args)],
                         capture_output=True, text=True, env=env)
    return json.loads(res.stdout)


def test_apply_then_noop(live: Path, tmp_path: Path) -> None:
    src = render_cib("three-node-aa.yml", tmp_path)
    first = run_module(live, src)
    assert first["changed"] is True, first
    assert {"resources", "constraints"} <= set(first["sections"])
    second = run_module(live, src)
    assert second["changed"] is False, second
    cib = _tool(live, "cibadmin", "--query")
    assert 'name="dc-version"' in cib and 'id="web-clone"' in cib


def test_inline_content_applies_and_is_never_echoed(live: Path, tmp_path: Path) -> None:
    src = render_cib("web-ap.yml", tmp_path)
    src.write_text(src.read_text().replace("REDACTED", "s3cret-ipmi"))
    first = run_module(live, src, inline=True)
    assert first["changed"] is True, first
    assert "s3cret-ipmi" not in json.dumps(first)  # the content parameter is no_log
    assert "s3cret-ipmi" in _tool(live, "cibadmin", "--query")
    assert run_module(live, src, inline=True)["changed"] is False
    assert run_module(live, src)["changed"] is False  # a file with the same CIB agrees


def test_owned_property_added_later_is_kept(live: Path, tmp_path: Path) -> None:
    src = render_cib("minimal.yml", tmp_path)
    assert run_module(live, src)["changed"]
    _tool(live, "crm_attribute", "--type", "crm_config", "--name", "last-lrm-refresh", "--update", "1")
    assert run_module(live, src)["changed"] is False
    assert 'name="last-lrm-refresh"' in _tool(live, "cibadmin", "--query")


def test_hand_changes_are_reverted(live: Path, tmp_path: Path) -> None:
    src = render_cib("minimal.yml", tmp_path)
    run_module(live, src)
    _tool(live, "crm_attribute", "--type", "crm_config", "--name", "stop-all-resources", "--update", "true")
    _tool(live, "crm_resource", "--resource", "vip", "--set-parameter", "ip", "--parameter-value",
          "198.18.60.99")
    result = run_module(live, src)
    assert result["changed"] is True
    cib = _tool(live, "cibadmin", "--query")
    assert "stop-all-resources" not in cib and "198.18.60.100" in cib and "198.18.60.99" not in cib
    assert run_module(live, src)["changed"] is False


def test_invalid_cib_is_refused_without_change(live: Path, tmp_path: Path) -> None:
    src = render_cib("minimal.yml", tmp_path)
    run_module(live, src)
    before = _tool(live, "cibadmin", "--query")
    bad_loc = render_cib("minimal.yml", tmp_path, pacemaker_locations=[
        {"id": "loc-x", "resource": "nonexistent", "node": "mini1", "score": "10"}])
    result = run_module(live, bad_loc)
    assert result.get("failed") is True and "crm_verify" in result["msg"]
    assert _tool(live, "cibadmin", "--query") == before


def test_check_mode_and_redacted_diff(live: Path, tmp_path: Path) -> None:
    src = render_cib("web-ap.yml", tmp_path)
    text = src.read_text().replace("REDACTED", "s3cret-ipmi")
    src.write_text(text)
    before = _tool(live, "cibadmin", "--query")
    result = run_module(live, src, check=True, diff=True)
    assert result["changed"] is True
    assert _tool(live, "cibadmin", "--query") == before  # check mode touched nothing
    assert "s3cret-ipmi" not in json.dumps(result)
    assert "fence_ipmilan" in result["diff"]["after"]


def test_fencing_topology_is_applied_changed_and_removed(live: Path, tmp_path: Path) -> None:
    src = render_cib("web-ap-nodrbd.yml", tmp_path)
    first = run_module(live, src)
    assert first["changed"] is True and "fencing-topology" in first["sections"], first
    levels = _tool(live, "cibadmin", "--query", "--scope", "fencing-topology")
    assert 'target="web1" index="2" devices="pdu-web1"' in levels
    assert run_module(live, src)["changed"] is False
    swapped = render_cib("web-ap-nodrbd.yml", tmp_path, pacemaker_fencing_levels=[
        {"target": "web1", "index": 1, "devices": ["pdu-web1"]}])
    assert run_module(live, swapped)["changed"] is True
    levels = _tool(live, "cibadmin", "--query", "--scope", "fencing-topology")
    assert 'index="1" devices="pdu-web1"' in levels and "bmc-web1" not in levels
    none = render_cib("web-ap-nodrbd.yml", tmp_path, pacemaker_fencing_levels=[])
    assert run_module(live, none)["changed"] is True
    assert "fencing-level" not in _tool(live, "cibadmin", "--query")


def test_node_attributes_follow_the_file_and_an_operators_stay(live: Path, tmp_path: Path) -> None:
    """halab owns the halab-node-* sets of each node; standby set by an operator is kept."""
    for node_id, name in ((1, "pc1"), (2, "pc2")):  # pc3 has not joined yet: its node is added
        _tool(live, "cibadmin", "--create", "--scope", "nodes", "--xml-text", f'<node id="{node_id}" uname="{name}"/>')
    standby = ('<node id="1" uname="pc1"><instance_attributes id="nodes-1">'
               '<nvpair id="nodes-1-standby" name="standby" value="on"/></instance_attributes></node>')
    _tool(live, "cibadmin", "--modify", "--scope", "nodes", "--xml-text", standby)
    src = render_cib(ROOT / "tests" / "data" / "pacemaker.yml", tmp_path)
    first = run_module(live, src)
    assert first["changed"] is True and "nodes" in first["sections"], first
    nodes = _tool(live, "cibadmin", "--query", "--scope", "nodes")
    assert 'id="halab-node-2-instance_attributes-worker-priority" name="worker-priority" value="20"' in nodes
    assert 'id="halab-node-3-utilization-cpu" name="cpu" value="8"' in nodes and 'uname="pc3"' in nodes
    assert 'name="standby" value="on"' in nodes
    assert run_module(live, src)["changed"] is False
    without = ET.parse(src)
    for node in without.getroot().iter("node"):
        for child in list(node):
            node.remove(child)
    without.write(src)
    assert run_module(live, src)["changed"] is True
    nodes = _tool(live, "cibadmin", "--query", "--scope", "nodes")
    assert "halab-node-" not in nodes and 'name="standby" value="on"' in nodes
    assert run_module(live, src)["changed"] is False


def _operator_state(live: Path) -> None:
    """What an operator leaves between deploys: a move, a ban with a lifetime, standby and
    maintenance on nodes, maintenance mode (each as Pacemaker's own tools write it)."""
    for node_id, name in ((1, "web1"), (2, "web2")):
        _tool(live, "cibadmin", "--create", "--scope", "nodes", "--xml-text", f'<node id="{node_id}" uname="{name}"/>')
    _tool(live, "crm_resource", "--move", "--resource", "web", "--node", "web2")
    _tool(live, "crm_resource", "--ban", "--resource", "web-server", "--node", "web1", "--lifetime", "P1D")
    _tool(live, "crm_attribute", "--node", "web1", "--name", "standby", "--update", "on")
    _tool(live, "crm_attribute", "--node", "web2", "--name", "maintenance", "--update", "true")
    _tool(live, "crm_attribute", "--type", "crm_config", "--name", "maintenance-mode", "--update", "true")


def test_operator_state_is_kept_idempotently_then_reset(live: Path, tmp_path: Path) -> None:
    src = render_cib("web-ap-nodrbd.yml", tmp_path)
    assert run_module(live, src)["changed"] is True
    _operator_state(live)
    kept = run_module(live, src)
    assert kept["changed"] is False, kept  # a no-op deploy with kept state changes nothing
    assert kept["kept_operator_state"][:2] == ["cli-prefer-web (web moved to web2)",
                                               "cli-ban-web-server-on-web1 (web-server banned from web1 until "
                                               + kept["kept_operator_state"][1].split(" until ")[1]]
    assert kept["kept_operator_state"][2:] == ["web1: standby=on", "web2: maintenance=true",
                                               "cluster property maintenance-mode=true"]
    assert kept["removed_operator_state"] == []
    changed = render_cib("web-ap-nodrbd.yml", tmp_path, pacemaker_rsc_defaults={"resource-stickiness": "50"})
    assert run_module(live, changed)["changed"] is True  # a real change keeps the state too
    assert len(run_module(live, changed)["kept_operator_state"]) == 5

    reset = run_module(live, changed, keep_operator_state=False)
    assert reset["changed"] is True and reset["kept_operator_state"] == []
    assert len(reset["removed_operator_state"]) == 5, reset
    cib = _tool(live, "cibadmin", "--query", "--scope", "configuration")
    for gone in ("cli-prefer-", "cli-ban-", 'name="standby"', 'name="maintenance"', "maintenance-mode"):
        assert gone not in cib
    assert run_module(live, changed, keep_operator_state=False)["changed"] is False


def test_operator_state_the_file_decides_or_makes_impossible_goes(live: Path, tmp_path: Path) -> None:
    """The file's maintenance-mode wins; a move of a resource the file dropped is removed
    (crm_verify would refuse a constraint on a missing resource)."""
    src = render_cib("web-ap-nodrbd.yml", tmp_path)
    run_module(live, src)
    _operator_state(live)
    without = ET.parse(src)
    resources = without.getroot().find("configuration/resources")
    assert resources is not None
    for group in resources.findall("group"):
        resources.remove(group)
    constraints = without.getroot().find("configuration/constraints")
    assert constraints is not None
    for location in constraints.findall("rsc_location[@rsc='web']"):
        constraints.remove(location)
    properties = without.getroot().find("configuration/crm_config/cluster_property_set")
    assert properties is not None
    ET.SubElement(properties, "nvpair", {"id": "cib-bootstrap-options-maintenance-mode",
                                         "name": "maintenance-mode", "value": "false"})
    without.write(src)
    result = run_module(live, src)
    assert result["changed"] is True, result
    assert result["removed_operator_state"] == [
        "cli-prefer-web (web moved to web2): its resource is no longer configured",
        result["removed_operator_state"][1]]
    assert result["removed_operator_state"][1].startswith("cli-ban-web-server-on-web1 (web-server banned")
    assert result["kept_operator_state"] == ["web1: standby=on", "web2: maintenance=true"]
    cib = _tool(live, "cibadmin", "--query", "--scope", "configuration")
    assert 'name="maintenance-mode" value="false"' in cib and "cli-" not in cib

"""Day-2 verbs on the 2-node web lab (examples/web-ap-nodrbd.yml), one lab and one first
deploy for the whole module: a move survives a deploy (which says it kept it and changes
nothing), maintenance on and off (cluster and node) as `status --json` reports it,
`deploy --reset-operator-state` undoes the move, a ban and its --clear, and a healthy
`status --json` at the end. The tests run in file order and build on each other."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..conftest import ROOT
from .helpers import halab, ok, wait_for_page

pytestmark = pytest.mark.lab

EXAMPLE = str(ROOT / "examples" / "web-ap-nodrbd.yml")
VIP_URL = "http://198.18.50.100/"


@pytest.fixture(scope="module", autouse=True)
def deployed(module_lab_state: Path) -> Path:
    """The lab up and deployed once for the module; web1 serves."""
    ok("lab", "up", EXAMPLE)
    ok("deploy", EXAMPLE)
    wait_for_page(VIP_URL, "web1", 60)  # web1 is preferred (300 > stickiness 2 x 100)
    return module_lab_state


def status_json() -> dict:
    result = halab("status", EXAMPLE, "--json")
    assert result.returncode in (0, 1), result.stdout + result.stderr
    return json.loads(result.stdout)


def test_a_deploy_keeps_a_move_and_says_so() -> None:
    assert "web runs on web2" in ok("move", EXAMPLE, "web", "web2")
    wait_for_page(VIP_URL, "web2", 30)
    again = ok("deploy", EXAMPLE)
    assert "kept operator state: cli-prefer-web (web moved to web2)" in again, again
    assert "no changes" in again, again  # keeping the move is no change
    assert wait_for_page(VIP_URL, "web2", 5) < 5  # still where it was moved


def test_maintenance_of_the_cluster_and_of_a_node() -> None:
    on = ok("maintenance", EXAMPLE, "on")
    assert "maintenance on for the whole cluster; cluster settled" in on and "(unmanaged)" in on, on
    report = status_json()
    assert report["maintenance_mode"] is True
    assert all(not r["managed"] for r in report["resources"]), report["resources"]
    assert "maintenance off" in ok("maintenance", EXAMPLE, "off")
    assert status_json()["maintenance_mode"] is False

    ok("maintenance", EXAMPLE, "on", "--node", "web2")
    nodes = {n["name"]: n for n in status_json()["nodes"]}
    assert nodes["web2"]["maintenance"] is True and nodes["web1"]["maintenance"] is False
    ok("maintenance", EXAMPLE, "off", "--node", "web2")
    assert not any(n["maintenance"] for n in status_json()["nodes"])
    assert wait_for_page(VIP_URL, "web2", 30) < 30  # the move still holds


def test_a_deploy_with_reset_removes_the_move() -> None:
    reset = ok("deploy", EXAMPLE, "--reset-operator-state")
    assert "removed operator state: cli-prefer-web (web moved to web2)" in reset, reset
    assert "kept operator state" not in reset, reset
    wait_for_page(VIP_URL, "web1", 60)  # back on the preferred node


def test_ban_and_clear() -> None:
    assert "web runs on web2" in ok("ban", EXAMPLE, "web", "web1", "--lifetime", "PT1H")
    wait_for_page(VIP_URL, "web2", 30)
    assert "web runs on web1" in ok("ban", EXAMPLE, "web", "web1", "--clear")  # failback to the preferred node
    wait_for_page(VIP_URL, "web1", 30)
    refused = halab("ban", EXAMPLE, "web", "web9")
    assert refused.returncode == 2 and "NODE: 'web9' is not a cluster member" in refused.stderr


def test_status_json_says_healthy() -> None:
    result = halab("status", EXAMPLE, "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 0 and report["healthy"] is True, report["problems"]
    assert {n["name"] for n in report["nodes"] if n["online"] and n["quorate"]} == {"web1", "web2"}
    assert {"id": "web-vip", "running_on": ["web1"], "managed": True} in report["resources"]
    assert report["failed_actions"] == [] and report["services"][0]["ok"] is True

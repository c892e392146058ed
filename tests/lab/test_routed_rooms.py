"""A cluster across two routed rooms (`examples/routed-two-rooms.yml`): each room has its
own subnets, the lab's host plays the routers between them. Both corosync links connect
every member to every other across the rooms; each floating IP runs only in its own room
(with both room-A members in standby, room A's service stops rather than start where its
address cannot exist); a member is fenced from the other room after a crash, and the
service comes back in its room.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ..conftest import ROOT
from .conftest import leaks
from .helpers import halab, ok, on, wait_for_page, wait_until

pytestmark = pytest.mark.lab

EXAMPLE = str(ROOT / "examples" / "routed-two-rooms.yml")
VIP_A, VIP_B = "198.18.50.100", "198.18.60.100"


def run_on(node: str, script: str) -> str:
    done = on("rooms", node, script)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def holders(address: str) -> list[str]:
    return [node for node in ("a1", "a2", "b1", "b2") if f" {address}/" in run_on(node, "ip -o -4 addr show")]


def test_two_rooms_route_their_links_and_keep_each_vip_in_its_room(
    lab_state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HALAB_HACLUSTER_PASSWORD", "Lab-rooms-hacluster")
    up = ok("lab", "up", EXAMPLE)
    assert re.search(r"^b1\t198\.18\.60\.11$", up, re.M), up  # reached on its own room's network
    first = halab("deploy", EXAMPLE)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]

    # both knet links connect a1 with each of the three others, two of them in the other room
    links = run_on("a1", "corosync-cfgtool -s")
    assert len(re.findall(r"nodeid:\s+\d+:\s+connected$", links, re.M)) == 6, links
    assert re.search(r"^Nodes:\s+4$", run_on("b2", "corosync-quorumtool -s"), re.M)
    wait_for_page(f"http://{VIP_A}/", "a1", 60)
    wait_until("vip-b on b1", lambda: holders(VIP_B) == ["b1"], 60)
    ok("verify", EXAMPLE)

    # room A empty: its group stops (-INFINITY in room B), room B's VIP stays where it is
    ok("standby", EXAMPLE, "a1")
    wait_for_page(f"http://{VIP_A}/", "a2", 60)
    ok("standby", EXAMPLE, "a2")
    wait_until("site-a stopped", lambda: "NOT running" in run_on("b1", "crm_resource --locate -r site-a 2>&1"), 60)
    assert holders(VIP_A) == [] and holders(VIP_B) == ["b1"]
    ok("standby", EXAMPLE, "a1", "--off")
    ok("standby", EXAMPLE, "a2", "--off")
    wait_for_page(f"http://{VIP_A}/", "a1", 60)

    # a1 crashes: fenced through its BMC, room A's service back on a2, never in room B
    drill = halab("drill", EXAMPLE, "--mode", "crash", "--timeout", "300", timeout=900)
    assert drill.returncode == 0, drill.stdout + drill.stderr
    assert "crash a1" in drill.stdout and "a1 fenced" in drill.stdout, drill.stdout
    assert "0 with two holders" in drill.stdout, drill.stdout
    print(drill.stdout)
    assert run_on("b1", "crm_resource --locate -r site-a").split()[-1] in ("a1", "a2")

    ok("lab", "down", "rooms")
    assert leaks("rooms", lab_state / "labs" / "rooms") == []

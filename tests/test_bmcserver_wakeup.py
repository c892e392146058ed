"""The lab BMC's event loop (real pyghmi) bound to a lab address, as `halab lab up` runs
it: without a loopback socket pyghmi's wake-ups are lost and `wait_for_rsp(timeout)` does
not return until a client's packet arrives; with `wake_on_loopback` it returns on time.
Runs in a private network namespace (root) holding only loopback and a veth pair with a
198.18 address."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ADDRESS = "198.18.253.1"
LOOP = f"""
import sys, threading, time
import pyghmi.ipmi.bmc as bmc
import pyghmi.ipmi.private.session as session
from halab.lab.bmcserver import wake_on_loopback
if sys.argv[1] == "wake":
    wake_on_loopback()
bmc.Bmc({{"admin": "x"}}, port=16299, address="{ADDRESS}")
done = threading.Event()
threading.Thread(target=lambda: [session.Session.wait_for_rsp(timeout=0.3) for _ in range(3)] and done.set(),
                 daemon=True).start()
print("returned" if done.wait(4) else "blocked")
"""

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (a network namespace)")


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"halabt-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for command in (["ip", "link", "set", "lo", "up"], ["ip", "link", "add", "d0", "type", "veth", "peer", "p0"],
                        ["ip", "addr", "add", f"{ADDRESS}/24", "dev", "d0"], ["ip", "link", "set", "d0", "up"],
                        ["ip", "link", "set", "p0", "up"]):
            subprocess.run(["ip", "netns", "exec", name, *command], check=True)  # fmt: skip
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def loop_in(netns: str, mode: str) -> str:
    done = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", LOOP, mode], capture_output=True,
                          text=True, cwd=ROOT, timeout=30, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_event_loop_wakes_on_time_only_with_a_loopback_socket(netns: str) -> None:
    assert loop_in(netns, "plain") == "blocked"  # pyghmi alone: the bug this guards against
    assert loop_in(netns, "wake") == "returned"

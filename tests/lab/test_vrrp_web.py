"""A VRRP pair in front of Apache, without LVS (examples/vrrp-web.yml), on two lab
containers: the deploy converges, verifies (the VIP answers Apache's health URL) and a
second deploy changes nothing. Apache stopped on the MASTER: its track script costs it 60
priority, the BACKUP takes the VIP and serves it; Apache back: the VIP returns (preempt).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ..conftest import ROOT
from .helpers import ok, on, page, wait_until

pytestmark = pytest.mark.lab

EXAMPLE = ROOT / "examples" / "vrrp-web.yml"
VIP_URL = "http://198.18.46.100/"


def serving() -> str | None:
    """The node whose page the VIP serves now (the default page names its node)."""
    body = page(VIP_URL) or ""
    return next((node for node in ("www1", "www2") if node in body), None)


def test_vrrp_pair_serves_apache_and_hands_over_when_apache_stops(lab_state: Path) -> None:
    ok("lab", "up", str(EXAMPLE))
    ok("deploy", str(EXAMPLE))
    ok("verify", str(EXAMPLE))
    assert "no changes" in ok("deploy", str(EXAMPLE))
    assert wait_until("www1 serves the VIP", lambda: serving() == "www1", 30) < 30

    started = time.monotonic()
    assert on("vrrpweb", "www1", "systemctl stop apache2").returncode == 0
    wait_until("www2 serves the VIP", lambda: serving() == "www2", 30, every=0.2)
    print(f"\nApache stopped on the MASTER: the VIP served by www2 {time.monotonic() - started:.1f} s later")
    assert on("vrrpweb", "www1", "systemctl start apache2").returncode == 0
    assert wait_until("www1 serves the VIP again", lambda: serving() == "www1", 30) < 30

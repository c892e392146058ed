"""`halab upgrade --release trixie`: a 2-node Debian 12 web cluster (fenced) upgraded to
Debian 13 one member at a time while a client requests the service every 100 ms.

Opt-in (HALAB_UPGRADE_TESTS=1): a whole-release upgrade of two nodes takes several
minutes; its figures are in docs/performance.md.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from ..conftest import ROOT
from .helpers import halab, ok, on
from .test_membership import Probe

pytestmark = pytest.mark.lab

EXAMPLE = ROOT / "examples" / "web-ap-nodrbd.yml"


def test_rolling_release_upgrade_keeps_serving(lab_state: Path) -> None:
    if os.environ.get("HALAB_UPGRADE_TESTS") != "1":
        pytest.skip("release upgrade scenario: set HALAB_UPGRADE_TESTS=1 (several minutes)")
    ok("lab", "up", str(EXAMPLE), "--release", "bookworm")
    ok("deploy", str(EXAMPLE))
    assert on("webnd", "web1", "cat /etc/debian_version").stdout.startswith("12")
    halab("lab", "ssh", "web2", "--", "crm_attribute --node web2 --name standby --update on")
    refused = halab("upgrade", str(EXAMPLE), "--release", "trixie")
    assert refused.returncode == 2 and "web2 is in standby" in refused.stderr, refused.stderr
    halab("lab", "ssh", "web2", "--", "crm_attribute --node web2 --name standby --update off")
    time.sleep(5)

    started = time.monotonic()
    with Probe() as probe:
        upgraded = halab("upgrade", str(EXAMPLE), "--release", "trixie", timeout=3600)
    elapsed = time.monotonic() - started
    assert upgraded.returncode == 0, upgraded.stdout[-3000:] + upgraded.stderr[-3000:]
    print(f"\nupgrade to trixie: {elapsed:.0f}s; {probe.report(started)}")
    print("\n".join(line for line in upgraded.stdout.splitlines() if " upgraded and back in " in line))
    for node in ("web1", "web2"):
        assert on("webnd", node, "cat /etc/debian_version").stdout.startswith("13")
        assert "Pacemaker 3." in on("webnd", node, "pacemakerd --version").stdout
    ok("deploy", str(EXAMPLE))
    ok("verify", str(EXAMPLE))
    # The service moves twice (off the member it runs on, back when that one returns): each
    # move is one short outage (stop, then start on the other member); nothing else fails.
    assert len(probe.outages()) <= 2 and probe.gap() < 20, probe.report(started)

"""Active/passive web on DRBD, two VMs (stock kernel: drbd 8.4): deploy, write a file into
the DRBD-backed document root on the Primary, read it through the VIP, crash the Primary:
the peer promotes, mounts and serves the same file; restore: DRBD resyncs to UpToDate.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from halab.lab import bmc
from halab.lab.lab import require

from ..conftest import ROOT
from .conftest import leaks
from .helpers import halab, ok, on, page, require_qemu, timed, wait_until

pytestmark = pytest.mark.lab

EXAMPLE = ROOT / "examples" / "web-ap-lab.yml"  # web-ap.yml with fencing: disabled (see the file)
LAB = "webap"
URL = "http://198.18.10.100/halab-drbd-check.txt"


def drbd(node: str, what: str) -> str:
    result = on(LAB, node, f"drbdadm {what} www")
    return result.stdout.strip() if result.returncode == 0 else ""


def test_drbd_web_on_two_vms(lab_state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_qemu()
    monkeypatch.setenv("HALAB_HACLUSTER_PASSWORD", "lab-hacluster")
    timed("web-ap: lab up (2 VMs)", lambda: ok("lab", "up", str(EXAMPLE)))
    timed("web-ap: first deploy", lambda: ok("deploy", str(EXAMPLE)))
    timed("web-ap: verify (testinfra)", lambda: ok("verify", str(EXAMPLE)))
    noop = timed("web-ap: no-op deploy", lambda: ok("deploy", str(EXAMPLE)))
    assert "no changes" in str(noop), noop  # every role probes first: nothing to converge
    assert drbd("ap1", "dstate") == "UpToDate/UpToDate"

    # ap1 is preferred (location 200): Primary, with the document root mounted there
    wait_until("ap1 Primary with /var/www/html mounted",
               lambda: on(LAB, "ap1", "drbdadm role www | grep -q ^Primary && findmnt /var/www/html")
               .returncode == 0, 120)  # fmt: skip
    marker = secrets.token_hex(8)
    write = on(LAB, "ap1", f"echo {marker} > /var/www/html/halab-drbd-check.txt && sync")
    assert write.returncode == 0, write.stderr
    wait_until("the file is served through the VIP", lambda: (page(URL) or "").strip() == marker, 60)

    # crash the Primary: ap2 promotes, mounts and serves the same file
    assert halab("lab", "crash", "ap1").returncode == 0
    try:
        timed("web-ap: file served from ap2 after crashing ap1",
              lambda: wait_until("ap2 serves the file", lambda: (page(URL) or "").strip() == marker, 180))  # fmt: skip
    except AssertionError:
        print(on(LAB, "ap2", "crm_mon -1 --inactive; stonith_admin --history '*' --verbose; "
                             "journalctl -q -n 60 -u pacemaker --no-pager").stdout)  # fmt: skip
        print("\n".join(bmc.power_log(require(LAB), "ap1")))
        raise
    assert drbd("ap2", "role").startswith("Primary")

    # restore: ap1 boots, rejoins, and DRBD resyncs to UpToDate on both sides
    timed("web-ap: restore ap1 (boot to SSH)", lambda: ok("lab", "restore", "ap1"))
    synced = lambda: drbd("ap2", "dstate") == "UpToDate/UpToDate"  # noqa: E731
    timed("web-ap: DRBD UpToDate/UpToDate after restore", lambda: wait_until("DRBD resynced", synced, 240, 3))
    wait_until("the file is still served", lambda: (page(URL) or "").strip() == marker, 180)

    timed("web-ap: lab down", lambda: ok("lab", "down", LAB))
    assert leaks(LAB, lab_state / "labs" / LAB) == []

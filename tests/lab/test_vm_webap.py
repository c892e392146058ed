"""Active/passive web and PostgreSQL on two DRBD resources, two VMs (stock kernel: drbd
8.4): deploy (PostgreSQL installed and configured from the file's `services`, its database
cluster created on the DRBD filesystem at its first start), write a file into the
DRBD-backed document root and a row into the database on the Primary, read both, crash the
Primary: the peer promotes both resources, mounts them, serves the same file and the same
row; restore: DRBD resyncs to UpToDate.
"""

from __future__ import annotations

import secrets
import shlex
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


def drbd(node: str, what: str, resource: str = "www") -> str:
    result = on(LAB, node, f"drbdadm {what} {resource}")
    return result.stdout.strip() if result.returncode == 0 else ""


def sql(node: str, statement: str) -> str:
    """`statement`'s rows on `node` (psql as postgres over the local socket), "" on failure."""
    result = on(LAB, node, f"runuser -u postgres -- psql -v ON_ERROR_STOP=1 -tAc {shlex.quote(statement)}")
    return result.stdout.strip() if result.returncode == 0 else ""


def test_drbd_web_on_two_vms(lab_state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_qemu()
    monkeypatch.setenv("HALAB_HACLUSTER_PASSWORD", "lab-hacluster")
    timed("web-ap: lab up (2 VMs)", lambda: ok("lab", "up", str(EXAMPLE)))
    timed("web-ap: first deploy", lambda: ok("deploy", str(EXAMPLE)))
    timed("web-ap: verify (testinfra)", lambda: ok("verify", str(EXAMPLE)))
    noop = timed("web-ap: no-op deploy", lambda: ok("deploy", str(EXAMPLE)))
    assert "no changes" in str(noop), noop  # every role probes first: nothing to converge
    assert drbd("ap1", "dstate") == "UpToDate/UpToDate" and drbd("ap1", "dstate", "db") == "UpToDate/UpToDate"

    # ap1 is preferred (location 200): Primary, with the document root mounted there
    wait_until("ap1 Primary with /var/www/html mounted",
               lambda: on(LAB, "ap1", "drbdadm role www | grep -q ^Primary && findmnt /var/www/html")
               .returncode == 0, 120)  # fmt: skip
    marker = secrets.token_hex(8)
    write = on(LAB, "ap1", f"echo {marker} > /var/www/html/halab-drbd-check.txt && sync")
    assert write.returncode == 0, write.stderr
    wait_until("the file is served through the VIP", lambda: (page(URL) or "").strip() == marker, 60)
    # PostgreSQL runs on ap1 with its data on the db resource (created there at its first start)
    wait_until("PostgreSQL answers on ap1", lambda: sql("ap1", "select 1") == "1", 120)
    assert on(LAB, "ap1", "findmnt -n -o SOURCE /var/lib/postgresql").stdout.strip() == "/dev/drbd1"
    assert sql("ap1", f"create table halab_check (v text); insert into halab_check values ('{marker}')") != ""
    assert on(LAB, "ap2", "systemctl is-active postgresql@17-main").stdout.strip() == "inactive"

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
    timed("web-ap: the row read on ap2",
          lambda: wait_until("ap2 has the row", lambda: sql("ap2", "select v from halab_check") == marker, 180))

    # restore: ap1 boots, rejoins, and DRBD resyncs to UpToDate on both sides
    timed("web-ap: restore ap1 (boot to SSH)", lambda: ok("lab", "restore", "ap1"))
    synced = lambda: all(drbd("ap2", "dstate", r) == "UpToDate/UpToDate" for r in ("www", "db"))  # noqa: E731
    timed("web-ap: DRBD UpToDate/UpToDate after restore", lambda: wait_until("DRBD resynced", synced, 240, 3))
    wait_until("the file is still served", lambda: (page(URL) or "").strip() == marker, 180)

    timed("web-ap: lab down", lambda: ok("lab", "down", LAB))
    assert leaks(LAB, lab_state / "labs" / LAB) == []

"""`halab drill` reports on real lab nodes (examples/web-ap-nodrbd.yml, 2 fenced containers):
a killed Apache (Pacemaker restarts it in place or moves it; the members' alert logs show it),
a standby interrupted by Ctrl-C, then two crashes with a JSON and PNG
report whose numbers must make sense, and the cluster left as before each time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ..conftest import ROOT
from .conftest import leaks
from .helpers import halab, ok, on, wait_for_page

pytestmark = pytest.mark.lab

EXAMPLE = ROOT / "examples" / "web-ap-nodrbd.yml"
SERVICE = "web-server via web-vip"


def left_as_before() -> None:
    """Both members online, no standby, no failed action, no constraint a drill or an
    operator added (cli-prefer/cli-ban), the service on the preferred node."""
    status = json.loads(halab("status", str(EXAMPLE), "--json").stdout)
    assert status["healthy"], status
    constraints = on("webnd", "web2", "cibadmin --query --scope constraints").stdout
    assert "cli-" not in constraints and "<rsc_location" in constraints, constraints
    assert wait_for_page("http://198.18.50.100/", "web1", 30) < 30


def test_service_kill_and_a_repeated_crash_with_a_report(lab_state: Path, tmp_path: Path) -> None:
    ok("lab", "up", str(EXAMPLE))
    ok("deploy", str(EXAMPLE))
    assert wait_for_page("http://198.18.50.100/", "web1", 60) < 60

    killed = halab("drill", str(EXAMPLE), "--mode", "service-kill", "--timeout", "300", timeout=900)
    assert killed.returncode == 0, killed.stdout + killed.stderr
    assert any(f"web-server {how}" in killed.stdout for how in ("restarted in place", "moved to web2")), killed.stdout
    print(killed.stdout)
    left_as_before()

    # Ctrl-C while web1 is in standby: exit 130, the standby undone, the service back on web1.
    drill = subprocess.Popen([sys.executable, "-m", "halab", "drill", str(EXAMPLE), "--mode", "standby"], text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ | {"PYTHONUNBUFFERED": "1"},
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as from a terminal
    assert drill.stdout is not None
    for line in drill.stdout:
        if "standby web1" in line:
            break
    time.sleep(0.5)  # web1 is going into standby
    drill.send_signal(signal.SIGINT)
    out, err = drill.communicate(timeout=600)
    assert drill.returncode == 130 and "restoring web1" in out and "interrupted" in err, out + err
    left_as_before()
    # The example's alert (Pacemaker's file agent, installed by the deploy): each member logs
    # the operations it ran: web1 those on the killed Apache (its failed monitor, its stop),
    # web2 at least the start of the fence devices it runs.
    logs = {node: on("webnd", node, "cat /var/log/pacemaker/halab-alerts.log").stdout for node in ("web1", "web2")}
    assert "Resource operation 'monitor" in logs["web1"] and "for 'web-server' on 'web1'" in logs["web1"], logs["web1"]
    assert "Resource operation 'start' for 'bmc-web1' on 'web2'" in logs["web2"], logs["web2"][-2000:]

    report = tmp_path / "report"
    crash = halab("drill", str(EXAMPLE), "--mode", "crash", "--repeat", "2", "--report", str(report),
                  "--timeout", "300", timeout=1800)  # fmt: skip
    assert crash.returncode == 0, crash.stdout + crash.stderr
    print(crash.stdout)
    document = json.loads((report / "drill-crash.json").read_text())
    assert document["schema"] == "halab-drill-report/1" and document["repeat"] == 2
    for run in document["runs"]:
        assert run["victim"] == "web1" and run["survivor"] == "web2" and run["fence_executor"] == "web2", run
        outage = run["services"][SERVICE]["outage_s"]
        assert 1 < outage < 90, run["services"]  # token + priority delay + fence: ~20-25 s on the lab
        assert 0 < run["fenced_s"] < 90 and run["takeover_s"] is not None and run["takeover_s"] < outage + 5, run
        assert run["split_brain"] == [] and run["address_samples"] > 40, run
    stats = document["summary"]["outage_s"][SERVICE]
    assert stats["runs"] == 2 and stats["p50"] <= stats["p95"] <= stats["max"] < 90, stats
    assert document["summary"]["split_brain_samples"] == 0
    png = (report / "drill-crash.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 20_000
    left_as_before()
    ok("lab", "down", "webnd")
    assert leaks("webnd", lab_state / "labs" / "webnd") == []

"""halab verify checks each floating IP for what it fronts (tests/lab/mixed-services.yml):
green on a healthy cluster; red, naming the service and the check, when the TCP service
is stopped outside Pacemaker or a floating IP is removed by hand.

The systemd unit is the operator's: this test installs it on the nodes before the deploy
(halab installs only what its file describes). Monitors run every 120 s in this file, so
the hand-made faults are still there when verify looks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import halab, ok, on

pytestmark = pytest.mark.lab

CLUSTER = Path(__file__).parent / "mixed-services.yml"
UNIT = """[Unit]
Description=halab test: a TCP service on port 8081
[Service]
ExecStart=/usr/bin/python3 -m http.server 8081 --bind 0.0.0.0 --directory /var/empty
"""


def _where(resource: str) -> str:
    out = on("mixsvc", "mx1", f"crm_resource --locate --resource {resource}").stdout
    return out.strip().split()[-1]


def test_verify_checks_each_service_for_what_it_is(lab_state: Path) -> None:
    ok("lab", "up", str(CLUSTER))
    for node in ("mx1", "mx2"):
        done = on("mixsvc", node, f"mkdir -p /var/empty && printf '{UNIT}' > /etc/systemd/system/halab-echo.service"
                                  " && systemctl daemon-reload")  # fmt: skip
        assert done.returncode == 0, done.stderr
    ok("deploy", str(CLUSTER))
    ok("verify", str(CLUSTER))

    node = _where("echo")
    assert on("mixsvc", node, "systemctl stop halab-echo").returncode == 0
    failed = halab("verify", str(CLUSTER))
    assert failed.returncode == 1
    assert "echo-vip (fronting echo): TCP connect to 198.18.82.102:8081 failed" in failed.stdout, failed.stdout
    assert "web-vip (fronting" not in failed.stdout  # Apache behind its IP still answers HTTP
    assert on("mixsvc", node, "systemctl start halab-echo").returncode == 0
    ok("verify", str(CLUSTER))

    node = _where("marker-vip")
    assert on("mixsvc", node, "ip addr del 198.18.82.103/24 dev eth0").returncode == 0
    failed = halab("verify", str(CLUSTER))
    assert failed.returncode == 1
    assert "marker-vip (fronting marker): exactly one node holds 198.18.82.103 failed" in failed.stdout, failed.stdout
    assert "held by no node" in failed.stdout

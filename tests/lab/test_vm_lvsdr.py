"""LVS-DR and LVS-NAT on the lab: two VM directors (keepalived VRRP + IPVS, stock kernel
with ip_vs) in front of two container real servers. lab up -> deploy -> HTTP through the DR
VIP and through the NAT VIP (the real servers' replies routed back through the directors'
internal VIP) answered by both real servers -> a real server stops Apache and leaves the
IPVS table while traffic goes on -> a director-crash drill: the master director crashes,
the VIPs and virtual services move to the backup (outage timed from a client), NAT keeps
working through it, the master boots again.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ..conftest import ROOT
from .conftest import leaks
from .helpers import ok, on, page, require_qemu, timed, wait_until

pytestmark = pytest.mark.lab

EXAMPLE = ROOT / "examples" / "lvs-dr-ci.yml"
LAB = "lvsdrci"
VIP = "198.18.22.100"
URL = f"http://{VIP}/"
RS = {"rs1": "198.18.22.21", "rs2": "198.18.22.22"}
NAT_VIP, NAT_GATEWAY, NAT_CLIENTS = "198.18.23.100", "198.18.24.254", "198.18.23.0/24"


def served_by(count: int = 12, url: str = URL) -> set[str]:
    seen = set()
    for _ in range(count):
        body = page(url) or ""
        seen |= {name for name in RS if re.search(rf"\b{name}\b", body)}
    return seen


def ipvs_table(director: str) -> str:
    result = on(LAB, director, "ipvsadm -Ln")
    return result.stdout if result.returncode == 0 else ""


def test_lvs_dr_with_vm_directors(lab_state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_qemu()
    monkeypatch.setenv("HALAB_VRRP_PASS", "lab-vrrp")
    timed("lvs-dr: lab up (2 VMs + 2 containers)", lambda: ok("lab", "up", str(EXAMPLE)))
    timed("lvs-dr: first deploy", lambda: ok("deploy", str(EXAMPLE)))
    timed("lvs-dr: verify (testinfra)", lambda: ok("verify", str(EXAMPLE)))
    noop = timed("lvs-dr: no-op deploy", lambda: ok("deploy", str(EXAMPLE)))
    assert "no changes" in str(noop), noop  # every role probes first: nothing to converge

    # both real servers answer through the VIP (wrr 2:1), and both are in the table
    wait_until("both real servers answer through the VIP", lambda: served_by() == set(RS), 90)
    table = ipvs_table("lb1")
    assert f"TCP  {VIP}:80 wrr" in table and all(f"{a}:80" in table for a in RS.values()), table
    assert VIP in on(LAB, "lb1", "ip -4 -br addr").stdout

    # NAT: from the clients' network, through the directors to the real servers' int addresses
    # and back through the directors' int VIP (halab-lvs-nat-routes.service on each real server)
    nat_url = f"http://{NAT_VIP}/"
    wait_until("both real servers answer through the NAT VIP", lambda: served_by(url=nat_url) == set(RS), 90)
    assert f"TCP  {NAT_VIP}:80 rr" in table and re.search(r"-> 198\.18\.24\.21:80\s+Masq", table), table
    for rs in RS:
        route = on(LAB, rs, f"ip -4 route show exact {NAT_CLIENTS}").stdout
        assert f"via {NAT_GATEWAY} " in route, (rs, route)

    # Apache stops on rs2: the health check takes it out, traffic continues on rs1
    assert on(LAB, "rs2", "systemctl stop apache2").returncode == 0
    timed("lvs-dr: rs2 out of the IPVS table",
          lambda: wait_until("rs2 leaves the table", lambda: RS["rs2"] not in ipvs_table("lb1"), 60))  # fmt: skip
    assert served_by(6) == {"rs1"}
    assert on(LAB, "rs2", "systemctl start apache2").returncode == 0
    wait_until("rs2 back in the table", lambda: RS["rs2"] in ipvs_table("lb1"), 60)

    # the master director dies, as a director-crash drill (the VIP probed every 100 ms, every
    # director's addresses sampled): the backup takes the VIP and serves; lb1 boots again
    report = lab_state / "drill"
    drill = timed("lvs-dr: director-crash drill (crash, takeover, lb1 booted again)",
                  lambda: ok("drill", str(EXAMPLE), "--mode", "director-crash", "--report", str(report),
                             "--timeout", "900", timeout=1800))  # fmt: skip
    print(drill)
    run = json.loads((report / "drill-director-crash.json").read_text())["runs"][0]
    assert run["victim"] == "lb1" and run["survivor"] == "lb2", run
    outage = run["services"][run["service"]]["outage_s"]
    assert run["address"] == VIP and outage is not None and 0 < outage < 60, run
    assert run["split_brain"] == [] and run["address_samples"] > 20, run
    table = ipvs_table("lb1")  # back, and MASTER again (preempt)
    assert f"TCP  {VIP}:80 wrr" in table and all(f"{a}:80" in table for a in RS.values()), table
    wait_until("both real servers answer through the VIP", lambda: served_by() == set(RS), 60)
    wait_until("NAT back through lb1", lambda: served_by(url=nat_url) == set(RS), 60)

    timed("lvs-dr: lab down", lambda: ok("lab", "down", LAB))
    assert leaks(LAB, lab_state / "labs" / LAB) == []

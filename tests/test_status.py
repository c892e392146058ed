"""`halab status`, `ban`, `maintenance` and the deploy's operator-state report, without hosts:
the parsers on real tool output (tests/data/status, see make_crm_mon.py there for where each
sample comes from), the verdict, the JSON, the commands the verbs run and what they refuse."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import pytest

from halab import operate, status
from halab.deploy import OperatorState
from halab.operate import ClusterState, _parse_crm_mon
from halab.readings import DRBD_STATUS, IPVS_TABLE, DrbdPeer, DrbdResource, RealServer, parse_drbd_status, parse_ipvsadm
from halab.remote import Hosts, Result
from halab.validation import load_cluster

from .conftest import ROOT

DATA = ROOT / "tests" / "data" / "status"
WEB = ROOT / "examples" / "web-ap-nodrbd.yml"
LVS = ROOT / "examples" / "lvs-dr.yml"
QUORATE = "Quorum information\n------------------\nNodes:            2\nQuorate:          Yes\n"


def sample(name: str) -> str:
    return (DATA / name).read_text()


def mon(name: str) -> ClusterState:
    state = ClusterState(seen_from="web1")
    _parse_crm_mon(sample(name), state)
    return state


def test_crm_mon_of_a_healthy_cluster() -> None:
    state = mon("crm_mon-healthy.xml")
    assert state.online == ["web1", "web2"] and state.standby == [] and state.maintenance == []
    assert state.resources["web-vip"] == ["web1"] and state.resources["web-server"] == ["web1"]
    assert state.stopped == [] and state.failures == [] and state.unmanaged == []
    assert state.maintenance_mode is False


def test_crm_mon_after_a_move_standby_maintenance_and_a_failure() -> None:
    state = mon("crm_mon-degraded.xml")
    assert state.standby == ["web1"] and state.maintenance == ["web1"]
    assert state.resources["web-vip"] == ["web2"]
    assert state.unmanaged == ["bmc-web2", "pdu-web2"]  # they run on web1, in maintenance
    assert state.failed_actions == [{"action": "web-server_monitor_10000", "node": "web2", "result": "not running",
                                     "reason": "Simulated action result", "status": "complete",
                                     "at": "2026-12-04 16:44:57Z"}]  # fmt: skip
    assert state.failures == ["web-server_monitor_10000 on web2: Simulated action result"]


def test_crm_mon_in_maintenance_mode_and_with_a_promotable_clone() -> None:
    assert mon("crm_mon-maintenance.xml").maintenance_mode is True
    drbd = mon("crm_mon-drbd.xml")
    assert sorted(drbd.resources["drbd-www"]) == ["ap1", "ap2"] and drbd.resources["www-fs"] == ["ap1"]


def test_drbd_9_json() -> None:
    assert parse_drbd_status(sample("drbdsetup-9-ap1.json")) == {
        "www": DrbdResource("Primary", "UpToDate", {"ap2": DrbdPeer("Connected", "Secondary", "UpToDate")})
    }
    lost = parse_drbd_status(sample("drbdsetup-9-ap1-peer-lost.json"))["www"]
    assert lost.peers["ap2"] == DrbdPeer("Connecting", "Unknown", "DUnknown")
    assert lost.problems() == ["connection to ap2 Connecting"]


def test_drbd_84_text_also_when_wrapped() -> None:
    """drbdsetup-84 has no --json: the text form, whose lines wrap at 80 columns."""
    assert parse_drbd_status(sample("drbdsetup-84-ap2.txt")) == {
        "www": DrbdResource("Secondary", "UpToDate", {"peer": DrbdPeer("Connected", "Primary", "UpToDate")})
    }
    syncing = parse_drbd_status(sample("drbdsetup-84-ap1-syncing.txt"))["www"]
    assert syncing.peers["peer"].disk == "Inconsistent"
    assert syncing.problems() == ["peer's disk Inconsistent"]
    assert DrbdResource().problems() == ["disk unknown", "no peer connection"]  # not configured there


def test_ipvsadm_table() -> None:
    table = parse_ipvsadm(sample("ipvsadm-Ln-lb1.txt"))
    assert list(table) == ["TCP 198.18.20.100:80"]
    assert table["TCP 198.18.20.100:80"][0] == RealServer("198.18.20.21:80", "Route", 2, 1, 14)
    assert len(parse_ipvsadm(sample("ipvsadm-Ln-lb1-rs3-down.txt"))["TCP 198.18.20.100:80"]) == 2
    assert parse_ipvsadm("") == {}


class FakeHosts:
    """Hosts that answer from samples: `answers` maps (host, command prefix) to a Result; every
    command run is recorded in `log`."""

    answers: ClassVar[dict[tuple[str, str], Result]] = {}
    log: ClassVar[list[tuple[str, str]]] = []

    run_all = Hosts.run_all  # the real parallel runner over the fake `run`

    def __init__(self, cluster: object) -> None:
        pass

    def run(self, host: str, command: str, timeout: float = 60) -> Result:
        FakeHosts.log.append((host, command))
        for (where, prefix), result in FakeHosts.answers.items():
            if where in (host, "*") and command.startswith(prefix):
                return Result(host, result.rc, result.stdout, result.stderr)
        return Result(host, 0, "", "")


def ok(stdout: str) -> Result:
    return Result("", 0, stdout, "")


def addresses(*held: str) -> Result:
    return ok("".join(f"2: eth0    inet {a}/24 brd 198.18.50.255 scope global eth0\\       valid_lft forever\n"
                      for a in held))  # fmt: skip


@pytest.fixture
def hosts(monkeypatch: pytest.MonkeyPatch) -> type[FakeHosts]:
    monkeypatch.setattr(status, "Hosts", FakeHosts)
    monkeypatch.setattr(operate, "Hosts", FakeHosts)
    monkeypatch.setattr(status, "answers", lambda probe, timeout: True)
    FakeHosts.log = []
    FakeHosts.answers = {("*", "corosync-quorumtool"): ok(QUORATE), ("*", "crm_mon"): ok(sample("crm_mon-healthy.xml")),
                         ("web1", "ip -o"): addresses("198.18.50.11", "198.18.50.100"),
                         ("web2", "ip -o"): addresses("198.18.50.12")}  # fmt: skip
    return FakeHosts


def test_status_json_of_a_healthy_cluster(hosts: type[FakeHosts], halab: Callable) -> None:
    code, out, _ = halab("status", WEB, "--json")
    report = json.loads(out)
    assert code == 0 and report["healthy"] is True and report["problems"] == []
    assert report["nodes"][0] == {"name": "web1", "quorate": True, "online": True, "standby": False,
                                  "maintenance": False}  # fmt: skip
    assert {"id": "web-vip", "running_on": ["web1"], "managed": True} in report["resources"]
    assert report["services"][0]["held_by"] == ["web1"] and report["failed_actions"] == []
    assert report["drbd"] == {} and report["vrrp"] == {} and report["ipvs"] == {}


def test_status_of_a_degraded_cluster_exits_1_naming_why(hosts: type[FakeHosts], halab: Callable) -> None:
    hosts.answers[("*", "crm_mon")] = ok(sample("crm_mon-degraded.xml"))
    code, out, err = halab("status", WEB)
    assert code == 1 and "the cluster is not healthy" in err
    assert "failed action web-server_monitor_10000 on web2" in out and "failed actions" in out
    assert "web1 (unmanaged)" in out and "yes" in out  # bmc-web2 on web1, web1 in maintenance


def test_status_of_drbd_from_json_and_from_text(hosts: type[FakeHosts]) -> None:
    hosts.answers = {("*", "corosync-quorumtool"): ok(QUORATE), ("*", "crm_mon"): ok(sample("crm_mon-drbd.xml")),
                     ("ap1", DRBD_STATUS): ok(sample("drbdsetup-9-ap1-peer-lost.json")),
                     ("ap2", DRBD_STATUS): ok(sample("drbdsetup-84-ap2.txt"))}  # fmt: skip
    report = status.collect(load_cluster(ROOT / "examples" / "web-ap.yml"))
    assert report.drbd["www"]["ap1"] is not None and report.drbd["www"]["ap1"].role == "Primary"
    assert "DRBD www on ap1: connection to ap2 Connecting" in report.problems
    assert not [p for p in report.problems if p.startswith("DRBD www on ap2")]


def test_status_of_vrrp_and_ipvs(hosts: type[FakeHosts]) -> None:
    """An LVS cluster without Pacemaker members: VRRP from the directors' addresses, IPVS tables."""
    hosts.answers = {("lb1", "ip -o"): addresses("198.18.20.11", "198.18.20.100"),
                     ("lb2", "ip -o"): addresses("198.18.20.12"),
                     ("lb1", IPVS_TABLE): ok(sample("ipvsadm-Ln-lb1.txt")),
                     ("lb2", IPVS_TABLE): ok(sample("ipvsadm-Ln-lb1-rs3-down.txt"))}  # fmt: skip
    report = status.collect(load_cluster(LVS))
    assert report.vrrp == {"VI_WEB": {"lb1": "MASTER", "lb2": "BACKUP"}}
    assert report.problems == ["IPVS web on lb2: 2 of 3 real servers in the table"]
    hosts.answers[("lb2", IPVS_TABLE)] = Result("lb2", 3, "", "")  # no ip_vs: VRRP only
    hosts.answers[("lb2", "ip -o")] = addresses("198.18.20.12", "198.18.20.100")
    report = status.collect(load_cluster(LVS))
    assert report.ipvs["web"]["lb2"] is None
    assert report.problems == ["VRRP VI_WEB: lb1 MASTER, lb2 MASTER"]
    assert status.as_json(report)["ipvs"]["web"]["lb1"][0]["address"] == "198.18.20.21:80"


def test_status_watch_repeats_until_interrupted(hosts: type[FakeHosts], halab: Callable,
                                                monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    rounds = iter([None, KeyboardInterrupt()])

    def sleep(seconds: float) -> None:
        if (stop := next(rounds)) is not None:
            raise stop

    monkeypatch.setattr(status.time, "sleep", sleep)
    code, out, err = halab("status", WEB, "--json", "--watch", "2")
    assert code == 130 and "interrupted" in err
    assert [json.loads(line)["healthy"] for line in out.splitlines()] == [True, True]


def test_ban_and_clear_run_crm_resource_then_wait_and_say_where(hosts: type[FakeHosts], halab: Callable) -> None:
    code, out, _ = halab("ban", WEB, "web", "web2", "--lifetime", "PT1H")
    assert code == 0 and "web runs on web1" in out
    commands = [command for _, command in hosts.log]
    assert "crm_resource --ban --lifetime PT1H --resource web --node web2" in commands
    assert commands.index("crm_resource --wait --timeout=120s") < commands.index("crm_mon -1 --output-as=xml")
    halab("ban", WEB, "web", "web2", "--clear")
    assert "crm_resource --clear --resource web --node web2" in [command for _, command in hosts.log]


def test_maintenance_of_the_cluster_and_of_a_node(hosts: type[FakeHosts], halab: Callable) -> None:
    hosts.answers[("*", "crm_mon")] = ok(sample("crm_mon-maintenance.xml"))
    code, out, _ = halab("maintenance", WEB, "on")
    assert code == 0 and "maintenance on for the whole cluster; cluster settled" in out
    assert "bmc-web2 runs on web1 (unmanaged)" in out
    halab("maintenance", WEB, "off", "--node", "web1")
    commands = [command for _, command in hosts.log]
    assert "crm_attribute --type crm_config --name maintenance-mode --update true" in commands
    assert "crm_attribute --node web1 --name maintenance --delete" in commands


@pytest.mark.parametrize(("args", "named"), [
    (("ban", WEB, "ghost", "web1"), "RESOURCE: unknown resource 'ghost'"),
    (("ban", WEB, "web", "web9"), "NODE: 'web9' is not a cluster member"),
    (("ban", WEB, "web", "web1", "--lifetime", "1h"), "--lifetime: '1h' is not an ISO 8601 duration"),
    (("ban", WEB, "web", "web1", "--lifetime", "PT1H", "--clear"), "--lifetime: --clear removes a ban"),
    (("ban", WEB, "web", "--", "-x"), "NODE: '-x' is not a cluster member"),
    (("maintenance", WEB, "on", "--node", "web9"), "--node: 'web9' is not a cluster member"),
    (("move", WEB, "web", "web2", "--lifetime", "P"), "--lifetime: 'P' is not an ISO 8601 duration"),
])  # fmt: skip
def test_bad_arguments_exit_2_naming_them_and_touch_nothing(
    hosts: type[FakeHosts], halab: Callable, args: tuple[str | Path, ...], named: str
) -> None:
    code, _, err = halab(*args)
    assert code == 2 and named in err and "invalid argument" in err, err
    assert hosts.log == []


def test_deploy_reports_the_operator_state_halab_cib_kept(capsys: pytest.CaptureFixture[str]) -> None:
    state = OperatorState()
    seen: list[dict] = []
    handle = state.watching(lambda event: seen.append(event) or True)
    res = {"changed": False, "kept_operator_state": ["cli-prefer-web (web moved to web2)"],
           "removed_operator_state": []}  # fmt: skip
    assert handle({"event": "runner_on_ok", "event_data": {"host": "web1", "res": res}}) is True
    handle({"event": "runner_on_ok", "event_data": {"host": "web1", "res": {"changed": True}}})
    assert len(seen) == 2 and state.kept == ["cli-prefer-web (web moved to web2)"] and state.removed == []
    state.report()
    out = capsys.readouterr().out
    assert "kept operator state: cli-prefer-web (web moved to web2)" in out and "--reset-operator-state" in out


def test_deploy_passes_the_reset_to_the_role(monkeypatch: pytest.MonkeyPatch, halab: Callable) -> None:
    given = []
    monkeypatch.setattr("halab.deploy.deploy", lambda cluster, source, options: given.append(options))
    assert halab("deploy", WEB, "--reset-operator-state")[0] == 0
    assert '--extra-vars={"pacemaker_reset_operator_state": true}' in given[0].cmdline()
    assert halab("deploy", WEB)[0] == 0 and given[1].extra_vars == {}

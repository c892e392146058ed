"""`halab drill` without hosts: its arguments refused before anything is touched, the report's
numbers from synthetic series (outage per service, p50/p95, split brain, takeover), the JSON
document, the PNG timeline, and a whole standby drill against fake hosts, repeated, reported,
and interrupted (the fault undone, exit 130)."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import pytest

from halab import drill, drillfaults, drillreport, operate
from halab.drillreport import RunRecord
from halab.remote import Result

from .conftest import ROOT

WEB = ROOT / "examples" / "web-ap-nodrbd.yml"
LVS = ROOT / "examples" / "lvs-dr.yml"
SERVICE = "web-server via web-vip"
VIP = "198.18.50.100"
LVS_VIP = "198.18.20.100"
CRM_MON = (ROOT / "tests" / "data" / "status" / "crm_mon-healthy.xml").read_text()
CRM_MON_FAILED = (ROOT / "tests" / "data" / "status" / "crm_mon-degraded.xml").read_text()  # web-server on web2


class UntouchedHosts:
    """Any attempt to reach a host fails the test."""

    def __init__(self, cluster: object) -> None:
        pass

    def run(self, host: str, command: str, timeout: float = 60) -> Result:
        raise AssertionError(f"a host was touched: {host}: {command}")


@pytest.fixture
def no_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HALAB_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HALAB_LAB_BMC_PASSWORD", "x")
    for module in (drill, drillfaults, operate):
        monkeypatch.setattr(module, "Hosts", UntouchedHosts, raising=False)


@pytest.mark.parametrize(
    ("args", "option", "fix"),
    [
        (["--mode", "standby", "--target", "ghost"], "--target", "use one of: web1, web2, web-vip, web-server, web"),
        (["--mode", "service-kill", "--target", "web1"], "--target", "use one of: web-server"),
        (["--mode", "crash"], "--mode", "add --allow-destructive"),
        (["--mode", "director-crash", "--allow-destructive"], "--mode", "use --mode crash, cut, standby"),
        (["--mode", "cut", "--allow-destructive"], "--mode", "use --mode crash --allow-destructive"),
        (["--repeat", "0"], "--repeat", "give --repeat 1 or more"),
        (["--report", "/nonexistent/dir/report"], "--report", "give a directory you can write to"),
    ],
)
def test_bad_arguments_exit_2_naming_the_option_and_the_fix_and_touch_nothing(
    no_lab: None, halab: Callable, args: list[str], option: str, fix: str
) -> None:
    code, out, err = halab("drill", WEB, *args)
    assert code == 2, out + err
    assert f"  {option}: " in err and fix in err, err


def test_every_problem_at_once_and_a_report_path_that_is_a_file(no_lab: None, halab: Callable, tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("")
    code, _, err = halab("drill", WEB, "--mode", "crash", "--target", "ghost", "--repeat", "-1",
                         "--report", tmp_path / "taken")  # fmt: skip
    assert code == 2 and "(4 problems)" in err and "is not a directory" in err, err


def test_report_without_matplotlib_is_refused(no_lab: None, halab: Callable, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    real = drillreport.importlib.util.find_spec
    missing = lambda name: None if name == "matplotlib" else real(name)  # noqa: E731
    monkeypatch.setattr(drillreport.importlib.util, "find_spec", missing)
    code, _, err = halab("drill", WEB, "--report", tmp_path / "out")
    assert code == 2 and "needs matplotlib" in err and "halab[report]" in err, err
    assert not (tmp_path / "out").exists()


def test_director_crash_aims_at_directors_and_instances(no_lab: None, halab: Callable) -> None:
    code, _, err = halab("drill", LVS, "--mode", "director-crash", "--target", "ghost", "--allow-destructive")
    assert code == 2 and "use one of: lb1, lb2, VI_WEB" in err, err


# The report's numbers, from synthetic series: 100 ms probes, 250 ms address samples.


def series(down: tuple[float, float], start: float = -1.0, end: float = 40.0) -> drillreport.Series:
    """Probes every 100 ms failing in [down)."""
    steps = round((end - start) * 10)
    return [(round(start + i / 10, 1), not down[0] <= start + i / 10 < down[1]) for i in range(steps)]


def holders(moved_at: float, double: tuple[float, float] | None = None) -> drillreport.Holders:
    out = []
    for i in range(-4, 160):
        at = i / 4
        held = ["web1"] if at < 1 else ([] if at < moved_at else ["web2"])
        if double and double[0] <= at < double[1]:
            held = ["web1", "web2"]
        out.append((at, held))
    return out


def record(down: tuple[float, float], moved_at: float, double: tuple[float, float] | None = None) -> RunRecord:
    return RunRecord("crash", "web1", "web-vip", SERVICE, VIP, {SERVICE: VIP}, {SERVICE: series(down)},
                     {VIP: holders(moved_at, double)}, [(0.0, "crash web1"), (21.0, "web1 fenced (by web2)")],
                     "web2", 21.0, "web2")  # fmt: skip


def test_outage_is_first_failed_to_first_good_request_after_the_fault() -> None:
    found = drillreport.outage(series((2.0, 22.5)))
    assert found["outage_s"] == pytest.approx(20.5) and found["first_failed_s"] == 2.0 and found["first_good_s"] == 22.5
    assert found["failed_requests"] == 205 and found["requests"] == 400
    assert drillreport.outage(series((-0.5, -0.2)))["outage_s"] == 0.0  # before the fault: not this drill's
    assert drillreport.outage(series((50, 60)))["outage_s"] == 0.0  # never failed
    never = drillreport.outage(series((3.0, 99.0)))
    assert never["outage_s"] is None and never["first_failed_s"] == 3.0  # never answered again


def test_percentiles_split_brain_and_takeover() -> None:
    assert drillreport.percentile([4, 1, 3, 2], 50) == 2.5
    assert drillreport.percentile([4, 1, 3, 2], 95) == pytest.approx(3.85)
    assert drillreport.percentile([7.0], 95) == 7.0 and drillreport.percentile([], 50) is None
    assert drillreport.stats([1.0, None, 3.0]) == {"p50": 2.0, "p95": 2.9, "max": 3.0, "runs": 2, "missing": 1}
    assert drillreport.takeover(holders(22.0), "web1") == 22.0
    doubles = drillreport.doubles({VIP: holders(22.0, double=(22.0, 23.0))})
    assert [d["at_s"] for d in doubles] == [22.0, 22.25, 22.5, 22.75]
    assert doubles[0] == {"at_s": 22.0, "address": VIP, "holders": ["web1", "web2"]}


def test_report_json_schema_and_summary_over_repeats() -> None:
    runs = [record((2.0, 22.5), 22.0), record((1.0, 25.0), 24.5), record((2.0, 20.0), 19.5, double=(19.5, 20.0))]
    document = json.loads(json.dumps(drillreport.report_json("webnd", "crash", runs, "2026-12-04T22:00:00Z")))
    assert document.keys() == {"schema", "cluster", "mode", "started", "repeat", "summary", "runs"}
    assert document["schema"] == "halab-drill-report/1" and document["repeat"] == 3
    run = document["runs"][0]
    assert run.keys() >= {"mode", "victim", "target", "service", "address", "survivor", "recovery", "fenced_s",
                          "fence_executor", "takeover_s", "services", "split_brain", "address_samples", "events",
                          "series", "holders"}  # fmt: skip
    assert run["services"][SERVICE]["outage_s"] == 20.5 and run["takeover_s"] == 22.0 and run["fenced_s"] == 21.0
    assert run["events"][0] == {"at_s": 0.0, "what": "crash web1"} and len(run["series"][SERVICE]) == 410
    summary = document["summary"]
    assert summary["outage_s"][SERVICE] == {"p50": 20.5, "p95": 23.65, "max": 24.0, "runs": 3, "missing": 0}
    assert summary["split_brain_samples"] == 2 and summary["fenced_s"]["p50"] == 21.0
    again = drillreport.report_json("webnd", "crash", drillreport.records(document), "2026-12-04T22:00:00Z")
    assert json.loads(json.dumps(again)) == document  # the raw series hold everything


def test_every_outage_stretch_is_listed() -> None:
    twice = [(at, ok and not 24.0 <= at < 27.0) for at, ok in series((2.0, 22.5))]  # a failback, later
    found = drillreport.outage(twice)
    assert found["outage_s"] == 20.5 and found["outages"] == [[2.0, 22.5], [24.0, 27.0]]
    assert drillreport.outage(series((3.0, 99.0)))["outages"] == [[3.0, None]]


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_the_timeline_picture_is_a_png_of_sensible_size(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    runs = [record((2.0, 22.5), 22.0), record((1.0, 25.0), 24.5, double=(24.5, 25.0))]
    json_path, png_path = drillreport.write(tmp_path / "new", drillreport.report_json("webnd", "crash", runs, "now"))
    assert json.loads(json_path.read_text())["repeat"] == 2
    data = png_path.read_bytes()
    width, height = png_size(data)
    assert width == 1100 and 400 < height < 1000 and 20_000 < len(data) < 2_000_000


# A whole drill against fake hosts: standby moves the VIP to web2, standby off brings it back.


class FakeCluster:
    """Two members answering crm_mon, holding the VIP on web1 until web1 is in standby or its
    Apache was killed (then Pacemaker moved it to web2, with a failed monitor); two directors
    holding the VRRP VIP on lb1 until lb1 is reset, and again once its keepalived runs."""

    log: ClassVar[list[tuple[str, str]]] = []
    standby: ClassVar[bool] = False
    killed: ClassVar[bool] = False
    reset: ClassVar[bool] = False

    def __init__(self, cluster: object) -> None:
        pass

    def run(self, host: str, command: str, timeout: float = 60) -> Result:
        FakeCluster.log.append((host, command))
        if command.startswith("crm_attribute --node web1 --name standby"):
            FakeCluster.standby = command.endswith("on")
        FakeCluster.killed = (FakeCluster.killed or command.startswith("pkill")) and "--cleanup" not in command
        FakeCluster.reset = (FakeCluster.reset or "sysrq" in command) and "is-active" not in command
        if command.startswith("ip -o"):
            if host == "lb1" and FakeCluster.reset:
                return Result(host, 255, "", "no route to host")
            holders = {"web2" if FakeCluster.standby or FakeCluster.killed else "web1": VIP,
                       "lb2" if FakeCluster.reset else "lb1": LVS_VIP}  # fmt: skip
            held = f"2: eth0    inet {holders[host]}/24 scope global eth0\n" if host in holders else ""
            return Result(host, 0, held, "")
        if command.startswith("corosync-quorumtool"):
            return Result(host, 0, "Quorate:          Yes\n", "")
        mon = CRM_MON_FAILED if FakeCluster.killed else CRM_MON
        return Result(host, 0, mon if command.startswith("crm_mon") else "", "")


@pytest.fixture
def fake_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> type[FakeCluster]:
    monkeypatch.setenv("HALAB_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HALAB_LAB_BMC_PASSWORD", "x")
    for module in (drill, drillfaults, operate):
        monkeypatch.setattr(module, "Hosts", FakeCluster, raising=False)
    monkeypatch.setattr(drill, "answers", lambda probe: True)
    monkeypatch.setattr(drill, "BASELINE", 0.2)
    monkeypatch.setattr(drillfaults, "VRRP_SETTLE", 0)
    FakeCluster.log, FakeCluster.standby, FakeCluster.killed, FakeCluster.reset = [], False, False, False
    return FakeCluster


def test_a_repeated_standby_drill_with_a_report(fake_cluster: type[FakeCluster], halab: Callable,
                                                tmp_path: Path) -> None:  # fmt: skip
    pytest.importorskip("matplotlib")
    code, out, err = halab("drill", WEB, "--mode", "standby", "--repeat", "2", "--report", tmp_path / "r")
    assert code == 0, out + err
    assert "service answers from web2" in out and "drill passed" in out and "0 with two holders" in out, out
    document = json.loads((tmp_path / "r" / "drill-standby.json").read_text())
    assert [run["survivor"] for run in document["runs"]] == ["web2", "web2"]
    assert document["summary"]["split_brain_samples"] == 0 and document["summary"]["takeover_s"]["runs"] == 2
    standby = [c for _, c in fake_cluster.log if c.startswith("crm_attribute --node web1 --name standby")]
    assert [c.split()[-1] for c in standby] == ["on", "off", "on", "off"]
    assert png_size((tmp_path / "r" / "drill-standby.png").read_bytes())[0] == 1100


def test_ctrl_c_undoes_the_fault_and_exits_130(fake_cluster: type[FakeCluster], halab: Callable,
                                               monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(drill, "_watch_recovery", interrupted)
    code, _, err = halab("drill", WEB, "--mode", "standby")
    assert code == 130 and "interrupted" in err, err
    standby = [c for _, c in fake_cluster.log if c.startswith("crm_attribute --node web1 --name standby")]
    assert [c.split()[-1] for c in standby] == ["on", "off"]  # undone
    assert any(c.startswith("crm_resource --wait") for _, c in fake_cluster.log)  # and settled


def test_service_kill_knows_apache_and_systemd_units() -> None:
    from halab.validation import load_cluster

    cluster = load_cluster(WEB)
    assert drillfaults.kill_command(cluster, "web-server") == "pkill -KILL --oldest --exact 'apache2|httpd'"
    assert drillfaults.kill_command(cluster, "web-vip") is None
    assert drillfaults.killable(cluster) == ["web-server"]


def test_service_kill_reports_where_pacemaker_recovered_it(fake_cluster: type[FakeCluster], halab: Callable) -> None:
    code, out, err = halab("drill", WEB, "--mode", "service-kill")
    assert code == 0, out + err
    assert "web-server (web-server) on web1" in out and "web-server moved to web2" in out, out
    commands = [c for _, c in fake_cluster.log]
    assert "pkill -KILL --oldest --exact 'apache2|httpd'" in commands
    assert "crm_resource --cleanup --resource web-server" in commands  # the failure forgotten: undone


def test_director_crash_resets_the_vrrp_master_off_the_lab_only_when_allowed(
    fake_cluster: type[FakeCluster], halab: Callable
) -> None:
    code, out, err = halab("drill", LVS, "--mode", "director-crash", "--allow-destructive")
    assert code == 0, out + err
    assert "director-crash lb1" in out and "service answers from lb2" in out and "0 with two holders" in out, out
    assert [h for h, c in fake_cluster.log if "sysrq" in c] == ["lb1"]
    assert ("lb1", "systemctl is-active --quiet keepalived") in fake_cluster.log  # waited for it to come back


def test_ctrl_c_while_restoring_finishes_the_restore_first(fake_cluster: type[FakeCluster], halab: Callable,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    import os
    import signal

    def pressed_during_undo(*args: object) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        drillfaults.undo(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(drill, "undo", pressed_during_undo)
    code, out, err = halab("drill", WEB, "--mode", "standby", "--repeat", "2")
    assert code == 130 and "the fault is undone" in err and "web1 back" in out, out + err
    assert "run 2/2" not in out  # no further run
    standby = [c for _, c in fake_cluster.log if c.startswith("crm_attribute --node web1 --name standby")]
    assert [c.split()[-1] for c in standby] == ["on", "off"]

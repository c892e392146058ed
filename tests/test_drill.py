"""`halab drill` without hosts: its arguments refused before anything is touched, the report's
numbers from synthetic series (outage per service, p50/p95, split brain, takeover), the JSON
document and the PNG timeline. Whole drills run on the lab only (tests/lab/test_drill_report.py,
test_fullstack_web.py, test_vm_lvsdr.py): a drill against fake hosts would prove nothing."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from halab import drill, drillfaults, drillreport, operate
from halab.drillreport import RunRecord
from halab.remote import Result

from .conftest import ROOT

WEB = ROOT / "examples" / "web-ap-nodrbd.yml"
LVS = ROOT / "examples" / "lvs-dr.yml"
SERVICE = "web-server via web-vip"
VIP = "198.18.50.100"


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


def test_service_kill_knows_apache_and_systemd_units() -> None:
    from halab.validation import load_cluster

    cluster = load_cluster(WEB)
    assert drillfaults.kill_command(cluster, "web-server") == "pkill -KILL --oldest --exact 'apache2|httpd'"
    assert drillfaults.kill_command(cluster, "web-vip") is None
    assert drillfaults.killable(cluster) == ["web-server"]

"""`halab upgrade`: what it refuses before touching anything and the order it takes the
members in (the rolling run itself is tests/lab/test_upgrade.py)."""

from __future__ import annotations

from halab.operate import ClusterState
from halab.upgrade import _health_problems, _order, _settled_problems
from halab.validation import load_cluster

from .conftest import ROOT

WEB = load_cluster(ROOT / "examples" / "web-ap-nodrbd.yml")


def _healthy() -> ClusterState:
    return ClusterState(
        seen_from="web1",
        quorate={"web1": True, "web2": True},
        online=["web1", "web2"],
        resources={"web-vip": ["web1"], "web-server": ["web1"], "bmc-web1": ["web2"]},
    )


def test_a_healthy_cluster_has_no_problem() -> None:
    assert _health_problems(WEB, _healthy()) == []


def test_every_degradation_is_named() -> None:
    state = _healthy()
    state.quorate["web2"] = False
    state.online.remove("web2")
    state.standby.append("web1")
    state.stopped.append("web-server")
    state.failures.append("web-server monitor on web1: not running")
    state.unanswered.append("web1")
    assert _health_problems(WEB, state) == [
        "web1 did not answer corosync-quorumtool",
        "web2 is not quorate",
        "web2 is not online in Pacemaker",
        "web1 is in standby",
        "web-server is stopped",
        "failed action web-server monitor on web1: not running",
    ]


def test_a_passing_fault_is_waited_out(monkeypatch) -> None:
    """Right after a member rejoins, a peer may still report the old membership: the check
    polls until the cluster settles instead of stopping the upgrade on one snapshot."""
    states = iter([_healthy(), _healthy()])
    first = next(states)
    first.quorate["web2"] = False
    snapshots = iter([first, next(states)])
    monkeypatch.setattr("halab.upgrade.cluster_state", lambda cluster, hosts: next(snapshots))
    monkeypatch.setattr("halab.upgrade.SETTLE_POLL", 0)
    assert _settled_problems(WEB, None, timeout=5) == []


def test_a_lasting_fault_is_reported_at_the_timeout(monkeypatch) -> None:
    state = _healthy()
    state.stopped.append("web-server")
    monkeypatch.setattr("halab.upgrade.cluster_state", lambda cluster, hosts: state)
    monkeypatch.setattr("halab.upgrade.SETTLE_POLL", 0)
    assert _settled_problems(WEB, None, timeout=0) == ["web-server is stopped"]


def test_the_member_running_the_fewest_resources_goes_first() -> None:
    assert _order(WEB, _healthy()) == ["web2", "web1"]


def test_an_unknown_release_is_refused_before_any_host(halab) -> None:
    code, _, err = halab("upgrade", ROOT / "examples" / "web-ap-nodrbd.yml", "--release", "sid")
    assert code == 2 and "Invalid value for '--release'" in err, err

"""Fast tests (no root): naming, specs and address rules, state files, firewall rules, CLI input."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from halab.errors import InputError
from halab.lab import inventory_overrides, lab_spec_from_cluster, names, network
from halab.lab.cli import lab
from halab.lab.procs import Proc
from halab.lab.spec import LabSpec, generic_spec
from halab.lab.state import LabState, NodeState, load
from halab.validation import load_cluster

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HALAB_STATE_DIR", str(tmp_path / "state"))


def cluster(subnet: str = "198.18.40.0/24", gateway: str | None = None, **addr: str):
    nets = [
        SimpleNamespace(name="lan", subnet=IPv4Network(subnet), interface="eth0",
                        gateway=IPv4Address(gateway) if gateway else None),
        SimpleNamespace(name="ring1", subnet=IPv4Network("198.18.41.0/24"), interface="hb1",
                        gateway=None),
    ]  # fmt: skip
    nodes = [
        SimpleNamespace(
            name=f"n{i}",
            roles=["member"],
            addresses={
                "lan": IPv4Address(addr.get(f"n{i}", f"198.18.40.{10 + i}")),
                "ring1": IPv4Address(f"198.18.41.{10 + i}"),
            },
        )
        for i in (1, 2)
    ]
    return SimpleNamespace(name="web", networks=nets, nodes=nodes)


def test_names_fit_ifnamsiz_and_are_lab_specific() -> None:
    longest = "a" + "-" * 30
    assert len(names.bridge(longest, 9)) <= 15
    assert len(names.veth(longest, 49, 9)) <= 15
    assert names.prefix("alpha") != names.prefix("beta")
    for made in (names.bridge("alpha", 0), names.veth("alpha", 3, 1), names.netns("alpha", "n1")):
        assert made.startswith(names.prefix("alpha"))


def test_spec_from_cluster_takes_names_addresses_and_host_side() -> None:
    spec = lab_spec_from_cluster(cluster(gateway="198.18.40.254"))
    assert spec.name == "web"
    assert [n.name for n in spec.nodes] == ["n1", "n2"]
    assert spec.primary.host_address == IPv4Address("198.18.40.254")
    assert spec.networks[1].host_address == IPv4Address("198.18.41.1")  # first host address
    assert spec.networks[1].interface == "hb1"
    assert spec.node("n2").addresses["ring1"] == IPv4Address("198.18.41.12")


def test_subnet_outside_lab_range_names_the_field() -> None:
    with pytest.raises(InputError) as err:
        lab_spec_from_cluster(cluster(subnet="100.64.0.0/24"))
    assert str(err.value) == (
        "networks[0].subnet: 100.64.0.0/24 is outside 198.18.0.0/15; "
        "a lab needs addresses in 198.18.0.0/15"
    )


def test_node_on_the_host_address_is_refused() -> None:
    with pytest.raises(
        InputError, match=r"nodes\[0\]\.addresses\.lan: 198\.18\.40\.1 is the host"
    ):
        lab_spec_from_cluster(cluster(n1="198.18.40.1"))


def test_node_address_must_be_in_its_subnet() -> None:
    with pytest.raises(InputError, match=r"nodes\[1\]\.addresses\.lan: .* not a host address"):
        lab_spec_from_cluster(cluster(n2="198.18.42.5"))


def test_generic_spec_numbers_nodes_after_the_host() -> None:
    spec = generic_spec("mol", 3, IPv4Network("198.19.7.0/24"))
    assert [(n.name, str(n.addresses["lab"])) for n in spec.nodes] == [
        ("node1", "198.19.7.2"), ("node2", "198.19.7.3"), ("node3", "198.19.7.4"),
    ]  # fmt: skip
    with pytest.raises(InputError, match="lab name"):
        generic_spec("Bad_Name", 1, IPv4Network("198.19.7.0/24"))


def test_state_round_trips_through_json() -> None:
    spec = lab_spec_from_cluster(cluster())
    st = LabState(spec, source="/x/web.yml", bridges=["hlb0"], rules=[["nat", "POSTROUTING"]])
    st.nodes["n1"] = NodeState("n1", 0, "ns", "m", ["v0", "v1"], True, Proc(12, 34), Proc(13, 35))
    st.save()
    again = load("web")
    assert again is not None
    assert again.to_json() == st.to_json()
    assert again.spec == spec


def test_rules_nat_only_the_primary_subnet_and_are_tagged() -> None:
    spec = lab_spec_from_cluster(cluster())
    rules = network.lab_rules(spec)
    nat = [r for r in rules if r[0] == "nat"]
    assert len(nat) == 1 and "198.18.40.0/24" in nat[0] and "MASQUERADE" in nat[0]
    assert all(names.comment("web") in r for r in rules)
    drops = [r for r in rules if r[-5] == "DROP"]
    assert len(drops) == 4  # in and out of each of the two bridges
    allowed = {r[r.index("--dports") + 1] for r in rules if "--dports" in r}
    assert allowed == {"53", "53,80,443"}


def test_a_routed_lab_reaches_each_room_on_its_home_network_and_routes_between_rooms() -> None:
    spec = lab_spec_from_cluster(load_cluster(ROOT / "examples" / "routed-two-rooms.yml"))
    assert spec.routed == [("lan-a", "lan-b"), ("hb-a", "hb-b")]
    b1 = spec.node("b1")
    assert spec.home(b1).name == "lan-b" and str(spec.address(b1)) == "198.18.60.11"
    assert [(str(s), str(v)) for s, v in spec.routes(b1)] == [("198.18.50.0/24", "198.18.60.1"),
                                                              ("198.18.51.0/24", "198.18.61.1")]  # fmt: skip
    assert LabSpec.from_json(spec.to_json()) == spec
    rules = network.lab_rules(spec)
    nat = [r[:r.index("-m")] for r in rules if r[0] == "nat"]
    assert nat[:2] == [["nat", "POSTROUTING", "-s", "198.18.50.0/24", "-d", "198.18.60.0/24", "-j", "RETURN"],
                       ["nat", "POSTROUTING", "-s", "198.18.60.0/24", "-d", "198.18.50.0/24", "-j", "RETURN"]]
    masquerade = [r[3] for r in rules if "MASQUERADE" in r]
    assert masquerade == ["198.18.50.0/24", "198.18.60.0/24"]  # both rooms reach the mirrors, NATed
    first_drop = next(i for i, r in enumerate(rules) if "DROP" in r)
    routed = [i for i, r in enumerate(rules) if r[1] == "FORWARD" and r[3] != r[5] and r[-5] == "ACCEPT"
              and "!" not in r]  # fmt: skip
    assert len(routed) == 4 and max(routed) < first_drop  # lan-a <-> lan-b, hb-a <-> hb-b, before the drops


def test_proc_identity_includes_start_time() -> None:
    import os

    me = Proc.of(os.getpid())
    assert me is not None and me.alive()
    assert not Proc(me.pid, me.start + 1).alive()  # same PID, another process


def test_inventory_overrides_is_none_without_lab() -> None:
    assert inventory_overrides("nothing") is None


def test_cli_bad_subnet_exits_2_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text(
        "name: outside\nnetworks:\n  - {name: lan, subnet: 100.64.1.0/24}\nnodes:\n"
        "  - {name: a1, addresses: {lan: 100.64.1.11}}\n"
        "  - {name: a2, addresses: {lan: 100.64.1.12}}\n"
        "fencing: disabled\n"
    )
    result = CliRunner().invoke(lab, ["up", str(path)])
    assert result.exit_code == 2, result.output
    assert "198.18.0.0/15" in result.output
    assert "Traceback" not in result.output


def test_cli_usage_errors_exit_2() -> None:
    runner = CliRunner()
    assert runner.invoke(lab, ["up"]).exit_code == 2
    assert runner.invoke(lab, ["up", "--nodes", "2"]).exit_code == 2
    assert runner.invoke(lab, ["status", "ghost"]).exit_code == 2


def test_down_with_nothing_up_is_a_successful_no_op() -> None:
    result = CliRunner().invoke(lab, ["down"])
    assert result.exit_code == 0
    assert "no lab is up" in result.output


def test_commands_killed_at_their_timeout_leave_our_stdin_blocking() -> None:
    """ssh sets O_NONBLOCK on its stdin and cannot undo it when killed at a timeout; sharing
    ours, it left it non-blocking and every later Ansible command refused to run."""
    child = textwrap.dedent("""
        import os, sys
        os.dup2(os.open("/dev/null", os.O_RDONLY), 0)
        from halab.errors import HalabError
        from halab.lab.proc import run
        grab = "import os, time; os.set_blocking(0, False); time.sleep(30)"
        try:
            run([sys.executable, "-c", grab], timeout=1)
        except HalabError:
            pass
        print(os.get_blocking(0))
    """)
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "True", done.stdout + done.stderr

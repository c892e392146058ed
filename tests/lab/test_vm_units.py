"""Fast tests of the VM backend (no root, no QEMU): specs, disks, identity, QEMU command line."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from halab.errors import InputError
from halab.inventory import build_inventory
from halab.lab import lab as ops
from halab.lab import lab_spec_from_cluster, network, vm
from halab.lab.backends import BACKENDS, Backend
from halab.lab.ssh import make_key
from halab.lab.state import LabState, NodeState
from halab.validation import load_cluster

from ..conftest import ROOT


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HALAB_STATE_DIR", str(tmp_path / "state"))


def test_vm_nodes_of_the_file_are_vms_and_get_their_drbd_disks() -> None:
    spec = lab_spec_from_cluster(load_cluster(ROOT / "examples" / "web-ap.yml"))
    assert [(n.name, n.backend, n.disks) for n in spec.nodes] == [
        ("ap1", "vm", ("/dev/vdb", "/dev/vdc")),
        ("ap2", "vm", ("/dev/vdb", "/dev/vdc")),
    ]
    assert (spec.vm_memory_mb, spec.vm_disk_mb) == (1024, 256)


def test_mixed_lab_and_backend_flag() -> None:
    cluster = load_cluster(ROOT / "examples" / "lvs-dr-ci.yml")
    spec = lab_spec_from_cluster(cluster)
    assert {n.name: n.backend for n in spec.nodes} == {"lb1": "vm", "lb2": "vm", "rs1": "container", "rs2": "container"}
    assert all(n.disks == () for n in spec.nodes)
    everything = lab_spec_from_cluster(cluster, backend="vm")
    assert all(n.is_vm for n in everything.nodes)
    with pytest.raises(InputError, match="--backend"):
        lab_spec_from_cluster(cluster, backend="xen")


def test_spec_round_trips_through_json_with_backend_and_disks() -> None:
    spec = lab_spec_from_cluster(load_cluster(ROOT / "examples" / "web-ap.yml"))
    assert type(spec).from_json(spec.to_json()) == spec


def test_a_backing_disk_a_vm_cannot_have_is_refused(tmp_path: Path) -> None:
    text = (ROOT / "examples" / "web-ap.yml").read_text().replace("disk: /dev/vdb", "disk: /dev/sdb")
    path = tmp_path / "x.yml"
    path.write_text(text)
    with pytest.raises(InputError, match=r"drbd.resources\[0\].disk: /dev/sdb"):
        lab_spec_from_cluster(load_cluster(path))


def test_disks_fill_up_to_the_highest_letter(tmp_path: Path) -> None:
    text = (ROOT / "examples" / "web-ap.yml").read_text().replace("disk: /dev/vdb", "disk: /dev/vdd")
    path = tmp_path / "x.yml"
    path.write_text(text)
    spec = lab_spec_from_cluster(load_cluster(path))
    assert spec.node("ap1").disks == ("/dev/vdb", "/dev/vdc", "/dev/vdd")


def _vm_state(tmp_path: Path) -> tuple[LabState, NodeState]:
    spec = lab_spec_from_cluster(load_cluster(ROOT / "examples" / "web-ap.yml"))
    st = LabState(spec)
    st.save()
    make_key(st.key, "test")
    ns = NodeState("ap2", 1, "ns", "m", ["hlxn1l0", "hlxn1l1"], backend="vm")
    ns.dir(st.name).mkdir(parents=True)
    vm.host_key(st, ns).write_text("PRIVATE")
    vm.host_key(st, ns).with_suffix(".pub").write_text("ssh-ed25519 AAAA root@ap2\n")
    return st, ns


def test_identity_tar_carries_hostname_keys_and_network_script(tmp_path: Path) -> None:
    st, ns = _vm_state(tmp_path)
    blob = vm.identity_tar(st, ns, 1500)
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        read = lambda name: tar.extractfile(members[name]).read().decode()  # noqa: E731
        assert read("etc/hostname") == "ap2\n"
        assert "198.18.10.11\tap1" in read("etc/hosts")
        assert read("root/.ssh/authorized_keys") == st.key.with_suffix(".pub").read_text()
        assert members["etc/ssh/ssh_host_ed25519_key"].mode == 0o600
        script = read("etc/halab/network.sh")
    assert vm.mac(st.name, "ap2", 1) in script
    assert "addr replace 198.18.11.12/24 dev eth1" in script
    assert "route replace default via 198.18.10.1" in script
    assert script.rstrip().endswith("ip -batch \"$batch\"")


def test_qemu_command_line(tmp_path: Path) -> None:
    st, ns = _vm_state(tmp_path)
    argv = vm.qemu_argv(st, ns, Path("/img"), "tcg")
    line = " ".join(argv)
    assert "-accel tcg -cpu qemu64 -smp 1 -m 1024" in line
    assert "systemd.hostname=ap2" in line and "root=/dev/vda" in line
    drives = [a for a in argv if a.startswith("file=")]
    assert drives[0].endswith("root.qcow2,if=virtio,format=qcow2,cache=unsafe")  # /dev/vda
    assert "disk-vdb.raw" in drives[1]  # /dev/vdb
    assert "tap,id=n1,ifname=hlxn1l1,script=no,downscript=no" in line
    assert "name=opt/halab/identity" in line


def test_accel_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(vm.ACCEL_ENV, "tcg")
    assert vm.accel() == "tcg"
    monkeypatch.setenv(vm.ACCEL_ENV, "xen")
    with pytest.raises(InputError):
        vm.accel()


def test_container_nodes_run_vrrp_only_without_host_ip_vs(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = lab_spec_from_cluster(load_cluster(ROOT / "examples" / "lvs-dr-ci.yml"))
    st = LabState(spec)
    for i, n in enumerate(spec.nodes):
        st.nodes[n.name] = NodeState(n.name, i, "ns", "m", [], backend=n.backend)
    st.save()
    for backend in BACKENDS.values():
        monkeypatch.setattr(backend, "running", lambda ns: True)
    monkeypatch.setattr(network, "host_has_ip_vs", lambda: False)
    over = ops.inventory_overrides(spec.name)
    assert over is not None
    assert over["rs1"]["keepalived_ipvs_enabled"] is False
    assert "keepalived_ipvs_enabled" not in over["lb1"]
    assert "ControlPersist" in over["lb1"]["ansible_ssh_common_args"]
    monkeypatch.setattr(network, "host_has_ip_vs", lambda: True)
    assert "keepalived_ipvs_enabled" not in ops.inventory_overrides(spec.name)["rs1"]


@pytest.mark.parametrize("example", sorted((ROOT / "examples").glob("*.yml")), ids=lambda p: p.stem)
def test_vms_get_drbd_disks_exactly_where_the_inventory_runs_drbd(example: Path) -> None:
    cluster = load_cluster(example)
    if any(cluster.primary_network.name not in node.addresses for node in cluster.nodes):
        # a routed cluster's rooms share no network: the lab routes between them for containers only
        with pytest.raises(InputError, match="routed networks has container nodes only"):
            lab_spec_from_cluster(cluster, backend="vm")
        return
    spec = lab_spec_from_cluster(cluster, backend="vm")
    assert [n.name for n in spec.nodes if n.disks] == build_inventory(cluster).groups["drbd_nodes"]


@pytest.mark.parametrize("kind", sorted(BACKENDS))
def test_every_backend_implements_the_whole_interface(kind: str) -> None:
    wanted = {name for name in vars(Backend) if not name.startswith("_")} | set(Backend.__annotations__)
    assert {name for name in wanted if not hasattr(BACKENDS[kind], name)} == set()


def test_a_vm_holds_addresses_only_the_guest_can_tell(tmp_path: Path) -> None:
    assert BACKENDS["vm"].held_addresses(_vm_state(tmp_path)[1]) is None

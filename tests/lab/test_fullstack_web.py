"""Full stack on real lab nodes, fenced through the lab's virtual BMCs: lab up -> deploy ->
HTTP via the VIP -> verify -> idempotent re-deploy -> hand edits noticed and reverted ->
drills: cut the active node (it is fenced, no two holders of the VIP at any sample), crash
it, crash it with its BMC unplugged (fencing level 2, the PDU outlet, fences it), standby.

Timings are printed (run with -s to see them); the benchmark script records them.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ..conftest import ROOT
from ..test_sha512_crypt import sha512_crypt
from .helpers import halab, on, wait_for_page

pytestmark = pytest.mark.lab

EXAMPLE = ROOT / "examples" / "web-ap-nodrbd.yml"
VIP_URL = "http://198.18.50.100/"


SECRET = "Lab-hacluster-7f3a"  # the hacluster password this test deploys, then hunts for
BMC_SECRET = "Lab-bmc-4c9e"  # the lab BMCs' password (the fence devices' too)


def with_hacluster_password(tmp_path: Path) -> Path:
    """The example plus a hacluster password read from the environment."""
    text = EXAMPLE.read_text().replace(
        "pacemaker:\n", "pacemaker:\n  hacluster_password: {env: HALAB_HACLUSTER_PASSWORD}\n")
    assert "hacluster_password" in text
    path = tmp_path / "web-ap-nodrbd.yml"
    path.write_text(text)
    return path


def on_web2(*commands: str) -> None:
    """Run shell commands on web2; every one must succeed."""
    done = on("webnd", "web2", " && ".join(commands))
    assert done.returncode == 0, done.stdout + done.stderr


def files_containing(root: Path, needle: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


@pytest.mark.parametrize("release", ["trixie", "bookworm"])
def test_web_cluster_deploys_verifies_is_idempotent_and_fails_over(
    lab_state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, release: str
) -> None:
    monkeypatch.setenv("HALAB_HACLUSTER_PASSWORD", SECRET)  # only in halab's environment
    monkeypatch.setenv("HALAB_LAB_BMC_PASSWORD", BMC_SECRET)
    cluster_file = with_hacluster_password(tmp_path)
    up = halab("lab", "up", str(cluster_file), "--release", release)
    assert up.returncode == 0, up.stdout + up.stderr
    check = halab("deploy", str(cluster_file), "--check", "--diff")  # nothing exists yet: all new
    assert SECRET not in check.stdout + check.stderr and BMC_SECRET not in check.stdout + check.stderr

    started = time.monotonic()
    first = halab("deploy", str(cluster_file))
    first_s = time.monotonic() - started
    assert first.returncode == 0, first.stdout + first.stderr
    print(f"\nfirst deploy: {first_s:.1f}s")

    # web1 is the preferred node (location score 300 > group stickiness 2 x 100).
    assert wait_for_page(VIP_URL, "web1", 60) < 60

    # The password works on the nodes, and appears in no log, inventory or output.
    assert on("webnd", "web1", "cat /etc/debian_version").stdout.startswith({"trixie": "13", "bookworm": "12"}[release])
    shadow = on("webnd", "web2", "getent shadow hacluster").stdout.split(":")[1]
    assert sha512_crypt().matches(SECRET, shadow), shadow
    assert SECRET not in first.stdout + first.stderr and BMC_SECRET not in first.stdout + first.stderr
    assert files_containing(lab_state, SECRET) == []
    assert files_containing(lab_state / "runs", shadow) == []  # the probe reads the hash: no_log
    assert files_containing(lab_state / "runs", BMC_SECRET) == []  # (the nodes' CIB holds it, mode 0600)

    verify = halab("verify", str(cluster_file))
    assert verify.returncode == 0, verify.stdout + verify.stderr

    started = time.monotonic()
    second = halab("deploy", str(cluster_file))
    print(f"no-op deploy: {time.monotonic() - started:.1f}s")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "no changes" in second.stdout, second.stdout + second.stderr

    # Hand edits: a no-op deploy skips converged layers after one state probe each, so it
    # must still notice every edit below, put it back, and be a no-op again afterwards.
    on_web2("echo '# hand edit' >> /etc/apache2/ports.conf", "systemctl enable --quiet apache2",
            "chmod 0600 /etc/corosync/corosync.conf", "sed -i 's/^198.18.50.11 web1$/198.18.50.99 web1/' /etc/hosts",
            "echo hacluster:changed-by-hand | chpasswd")
    repair = halab("deploy", str(cluster_file))
    assert repair.returncode == 0, repair.stdout + repair.stderr
    progress = repair.stderr  # the per-task progress lines
    for task in ("Write ports.conf", "Leave Apache to Pacemaker", "Install corosync.conf", "List every halab host",
                 "Set the hacluster user's password"):
        assert f"web2: changed: {task}" in progress, progress
    assert "web1: changed: Write ports.conf" not in progress, progress  # Apache converges per host
    on_web2("grep -qx '198.18.50.11 web1' /etc/hosts", "! grep -q 'hand edit' /etc/apache2/ports.conf",
            "[ $(stat -c %a /etc/corosync/corosync.conf) = 644 ]", "! systemctl is-enabled --quiet apache2")
    assert sha512_crypt().matches(SECRET, on("webnd", "web2", "getent shadow hacluster").stdout.split(":")[1])
    third = halab("deploy", str(cluster_file))
    assert "no changes" in third.stdout, third.stdout + third.stderr
    changed = halab("deploy", str(cluster_file), "--check", "--diff")  # the CIB diff shows fence devices
    assert BMC_SECRET not in changed.stdout + changed.stderr and SECRET not in changed.stdout + changed.stderr

    power_log = lab_state / "labs" / "webnd" / "nodes" / "web1" / "bmc.log"
    for mode in ("cut", "crash"):  # web1 runs the service (failback after each drill)
        before = len(power_log.read_text().splitlines())
        drill = halab("drill", str(cluster_file), "--mode", mode, "--timeout", "300", timeout=900)
        assert drill.returncode == 0, drill.stdout + drill.stderr
        assert "drill passed" in drill.stdout and "0 with two holders" in drill.stdout, drill.stdout
        assert "web1 fenced, executed by web2" in drill.stdout, drill.stdout
        assert "bmc: power on" in "\n".join(power_log.read_text().splitlines()[before:])
        print(drill.stdout)

    # Level 2: web1's BMC stops answering; its PDU outlet (the second level) must fence it.
    assert halab("lab", "unplug", "web1").returncode == 0
    before = len(power_log.read_text().splitlines())
    drill = halab("drill", str(cluster_file), "--mode", "crash", "--timeout", "300", timeout=900)
    assert halab("lab", "plug", "web1").returncode == 0
    time.sleep(25)  # a monitor of bmc-web1 started while unplugged times out after 20 s
    cleanup = halab("cleanup", str(cluster_file))  # bmc-web1's monitor failed while unplugged
    assert cleanup.returncode == 0 and "no failed actions" in cleanup.stdout, cleanup.stdout + cleanup.stderr
    assert drill.returncode == 0, drill.stdout + drill.stderr
    actions = "\n".join(power_log.read_text().splitlines()[before:])
    assert "pdu: power on" in actions and "bmc: power" not in actions, actions
    print(drill.stdout)

    drill = halab("drill", str(cluster_file), "--mode", "standby")
    assert drill.returncode == 0, drill.stdout + drill.stderr
    assert "drill passed" in drill.stdout
    verify = halab("verify", str(cluster_file))
    assert verify.returncode == 0, verify.stdout + verify.stderr

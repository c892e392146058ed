"""Full stack on real lab nodes: lab up -> deploy -> HTTP via the VIP -> verify ->
idempotent re-deploy -> hand edits noticed and reverted -> crash the active node -> the
VIP serves from the peer -> down.

Timings are printed (run with -s to see them); the benchmark script records them.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from ..conftest import ROOT
from .helpers import halab, on, wait_for_page

pytestmark = pytest.mark.lab

EXAMPLE = ROOT / "examples" / "web-ap-nodrbd.yml"
VIP_URL = "http://198.18.50.100/"


SECRET = "Lab-hacluster-7f3a"  # the hacluster password this test deploys, then hunts for


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


def test_web_cluster_deploys_verifies_is_idempotent_and_fails_over(
    lab_state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HALAB_HACLUSTER_PASSWORD", SECRET)  # only in halab's environment
    cluster_file = with_hacluster_password(tmp_path)
    up = halab("lab", "up", str(cluster_file))
    assert up.returncode == 0, up.stdout + up.stderr

    started = time.monotonic()
    first = halab("deploy", str(cluster_file))
    first_s = time.monotonic() - started
    assert first.returncode == 0, first.stdout + first.stderr
    print(f"\nfirst deploy: {first_s:.1f}s")

    # web1 is the preferred node (location score 300 > group stickiness 2 x 100).
    assert wait_for_page(VIP_URL, "web1", 60) < 60

    # The password works on the nodes, and appears in no log, inventory or output.
    shadow_ok = subprocess.run(
        [sys.executable, "-m", "halab", "lab", "ssh", "web2", "--",
         "python3 -W ignore -c \"import crypt, spwd, sys; h = spwd.getspnam('hacluster').sp_pwdp; "
         f"sys.exit(crypt.crypt('{SECRET}', h) != h)\""], capture_output=True, text=True, check=False)
    assert shadow_ok.returncode == 0, shadow_ok.stdout + shadow_ok.stderr
    assert SECRET not in first.stdout + first.stderr
    assert files_containing(lab_state, SECRET) == []

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
            "chmod 0600 /etc/corosync/corosync.conf", "sed -i 's/^198.18.50.11 web1$/198.18.50.99 web1/' /etc/hosts")
    repair = halab("deploy", str(cluster_file))
    assert repair.returncode == 0, repair.stdout + repair.stderr
    progress = repair.stderr  # the per-task progress lines
    for task in ("Write ports.conf", "Leave Apache to Pacemaker", "Install corosync.conf", "List every halab host"):
        assert f"web2: changed: {task}" in progress, progress
    assert "web1: changed: Write ports.conf" not in progress, progress  # Apache converges per host
    on_web2("grep -qx '198.18.50.11 web1' /etc/hosts", "! grep -q 'hand edit' /etc/apache2/ports.conf",
            "[ $(stat -c %a /etc/corosync/corosync.conf) = 644 ]", "! systemctl is-enabled --quiet apache2")
    third = halab("deploy", str(cluster_file))
    assert "no changes" in third.stdout, third.stdout + third.stderr

    crash = halab("lab", "crash", "web1")
    assert crash.returncode == 0, crash.stdout + crash.stderr
    recovery = wait_for_page(VIP_URL, "web2", 90)
    print(f"service back on web2 {recovery:.1f}s after crashing web1")

    status = halab("status", str(cluster_file))
    assert "web2" in status.stdout and status.returncode == 1, status.stdout  # web1 is down: not healthy

    restore = halab("lab", "restore", "web1")
    assert restore.returncode == 0, restore.stdout + restore.stderr
    assert wait_for_page(VIP_URL, "web1", 180) < 180  # failback once web1 rejoined
    drill = halab("drill", str(cluster_file), "--mode", "standby")
    assert drill.returncode == 0, drill.stdout + drill.stderr
    assert "drill passed" in drill.stdout

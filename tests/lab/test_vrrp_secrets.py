"""Secrets and data on real nodes: a keepalived VRRP pair whose password comes from the
environment and whose commands hold template syntax (tests/lab/vrrp-secrets.yml).

`deploy --check --diff` before and after a password change never prints the password;
the deploy installs keepalived.conf with the template syntax as written (halab verify
compares it with `halab render`); the VIP is held by exactly one director; no run file,
log or inventory holds either password; nothing ran on this machine (no canary).
Then the tracked interface: its link down on the MASTER (150 - 60 < 100) moves the VIP to
the BACKUP; back up, the VIP returns (preempt).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import halab, ok, on, wait_until

pytestmark = pytest.mark.lab

CLUSTER = Path(__file__).parent / "vrrp-secrets.yml"
FIRST, SECOND = "Fst-7q2z", "Snd-9w4x"  # VRRP PASS: at most 8 characters


def _holders() -> list[str]:
    out = []
    for node in ("vs1", "vs2"):
        if "198.18.44.100/" in on("vrrpsec", node, "ip -o -4 addr show dev eth0").stdout:
            out.append(node)
    return out


def _files_containing(root: Path, needle: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


def test_vrrp_secrets_never_shown_and_commands_installed_as_written(
    lab_state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HALAB_VRRP_PASS", FIRST)
    ok("lab", "up", str(CLUSTER))
    check = halab("deploy", str(CLUSTER), "--check", "--diff")  # a new cluster: every file is new
    assert FIRST not in check.stdout + check.stderr
    ok("deploy", str(CLUSTER))
    assert wait_until("the VIP on exactly one director", lambda: len(_holders()) == 1, 30) < 30
    conf = on("vrrpsec", "vs1", "cat /etc/keepalived/keepalived.conf").stdout
    assert "script \"/usr/bin/echo {{ lookup('pipe', 'touch /CANARY') }}\"" in conf, conf
    assert f"auth_pass {FIRST}" in conf
    ok("verify", str(CLUSTER))

    monkeypatch.setenv("HALAB_VRRP_PASS", SECOND)
    check = halab("deploy", str(CLUSTER), "--check", "--diff")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "would change" in check.stdout
    assert FIRST not in check.stdout + check.stderr and SECOND not in check.stdout + check.stderr
    ok("deploy", str(CLUSTER))
    assert f"auth_pass {SECOND}" in on("vrrpsec", "vs2", "cat /etc/keepalived/keepalived.conf").stdout
    assert wait_until("the VIP on exactly one director", lambda: len(_holders()) == 1, 30) < 30

    runs = lab_state / "runs"  # inventories, ansible-runner artifacts and logs of every run
    assert _files_containing(runs, FIRST) == [] and _files_containing(runs, SECOND) == []
    assert not list(Path.cwd().rglob("CANARY")) and not Path("/CANARY").exists()
    for node in ("vs1", "vs2"):
        assert on("vrrpsec", node, "test ! -e /CANARY").returncode == 0

    assert "track_interface {\n        eth1 weight -60\n    }" in conf, conf
    assert wait_until("vs1 holds the VIP", lambda: _holders() == ["vs1"], 30) < 30
    assert on("vrrpsec", "vs1", "ip link set eth1 down").returncode == 0
    try:
        assert wait_until("the VIP moves to vs2", lambda: _holders() == ["vs2"], 30) < 30
    finally:
        assert on("vrrpsec", "vs1", "ip link set eth1 up").returncode == 0
    assert wait_until("the VIP back on vs1", lambda: _holders() == ["vs1"], 30) < 30

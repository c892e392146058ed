"""A service that is not Apache, installed and configured by halab (`services`): Redis behind
a floating IP on two fenced lab members. The deploy installs it without starting it,
writes its configuration and password file, leaves redis-server.service to Pacemaker;
Redis answers on the VIP with the password only; a second deploy changes nothing; a unit
started by hand outside Pacemaker is stopped by the next deploy while Pacemaker's keeps
running; a standby drill moves it; the password shows up nowhere; file text stays data.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from ..conftest import ROOT
from .conftest import leaks
from .helpers import halab, ok, on, wait_until

pytestmark = pytest.mark.lab

EXAMPLE = ROOT / "examples" / "redis.yml"
VIP = "198.18.56.100"
PASSWORD = "Lab-redis-5b2d"
NOTE = "# {{ lookup('pipe', 'touch /tmp/halab-services-pwned') }} stays as written\n"


def redis(*commands: str) -> str:
    """Redis' answers to `commands` (inline protocol) through the VIP, as one string."""
    try:
        with socket.create_connection((VIP, 6379), timeout=3) as conn:
            conn.sendall("".join(f"{command}\r\n" for command in commands).encode())
            answer = b""
            deadline = time.monotonic() + 3
            while answer.count(b"\r\n") < len(commands) and time.monotonic() < deadline:
                answer += conn.recv(4096)
            return answer.decode(errors="replace")
    except OSError as exc:
        return f"no answer: {exc}"


def with_note(tmp_path: Path) -> Path:
    """The example plus a file whose text looks like a template."""
    text = EXAMPLE.read_text().replace(
        "    units: [redis-server]\n",
        "      - path: /etc/redis/halab-note.txt\n        content: \"" + NOTE.replace("\n", "\\n") + "\"\n"
        "    units: [redis-server]\n")  # fmt: skip
    assert "halab-note" in text
    path = tmp_path / "redis.yml"
    path.write_text(text)
    return path


def test_redis_is_installed_left_to_pacemaker_and_moves(
    lab_state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HALAB_REDIS_AUTH", f"requirepass {PASSWORD}")
    cluster_file = with_note(tmp_path)
    ok("lab", "up", str(cluster_file))
    first = halab("deploy", str(cluster_file))
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    wait_until("Redis answers PONG on the VIP", lambda: "+PONG" in redis(f"AUTH {PASSWORD}", "PING"), 60)
    assert "NOAUTH" in redis("PING")  # the password file is in force
    ok("verify", str(cluster_file))

    def on_node(node: str, script: str) -> str:
        done = on("kv", node, script)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    # kv1 runs it under Pacemaker (its runtime drop-in), kv2 has it installed, disabled, stopped
    assert on_node("kv1", "systemctl is-enabled redis-server || true").strip() == "disabled"
    on_node("kv1", "test -e /run/systemd/system/redis-server.service.d/50-pacemaker.conf")
    assert on_node("kv2", "systemctl is-active redis-server || true").strip() == "inactive"
    assert on_node("kv2", "stat -c '%a %U %G' /etc/redis/halab-auth.conf").split() == ["640", "redis", "redis"]
    assert on_node("kv2", "cat /etc/redis/halab-note.txt") == NOTE
    on_node("kv1", "test ! -e /tmp/halab-services-pwned")
    assert not Path("/tmp/halab-services-pwned").exists()

    second = ok("deploy", str(cluster_file))
    assert "no changes" in second, second

    # started by hand outside Pacemaker on kv2: the next deploy stops it, kv1's keeps serving
    on_node("kv2", "systemctl start redis-server && systemctl is-active redis-server")
    repair = halab("deploy", str(cluster_file))
    assert repair.returncode == 0, repair.stdout[-3000:] + repair.stderr[-3000:]
    assert "kv2: changed: Stop the units that run outside Pacemaker" in repair.stderr, repair.stderr
    assert "kv1: changed" not in repair.stderr, repair.stderr
    assert on_node("kv2", "systemctl is-active redis-server || true").strip() == "inactive"
    assert "+PONG" in redis(f"AUTH {PASSWORD}", "PING")

    drill = halab("drill", str(cluster_file), "--mode", "standby", "--timeout", "120", timeout=600)
    assert drill.returncode == 0, drill.stdout + drill.stderr
    assert "drill passed" in drill.stdout and f"TCP connect to {VIP}:6379" in drill.stdout, drill.stdout
    print(drill.stdout)

    outputs = first.stdout + first.stderr + second + repair.stdout + repair.stderr + drill.stdout + drill.stderr
    assert PASSWORD not in outputs
    runs = lab_state / "runs"  # the run files: logs, inventories, artifacts (the nodes' roots hold it, 0640)
    assert [p for p in runs.rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()] == []
    ok("lab", "down", "kv")
    assert leaks("kv", lab_state / "labs" / "kv") == []

"""Day-2 verbs on the 2-node web lab (examples/web-ap-nodrbd.yml), one lab and one first
deploy for the whole module: a move survives a deploy (which says it kept it and changes
nothing), maintenance on and off (cluster and node) as `status --json` reports it,
`deploy --reset-operator-state` undoes the move, a ban and its --clear, a healthy
`status --json`; then `backup` (no secret in it, and with --with-secrets mode 0600),
`destroy` refused without the typed name, `destroy --yes` (everything stopped, halab's
files gone), and a last `deploy` that brings the cluster back, so the module ends healthy.
The tests run in file order and build on each other."""

from __future__ import annotations

import base64
import json
import os
import stat
import tarfile
from pathlib import Path

import pytest

from ..conftest import ROOT
from .helpers import halab, ok, on, page, wait_for_page

pytestmark = pytest.mark.lab

EXAMPLE = str(ROOT / "examples" / "web-ap-nodrbd.yml")
VIP_URL = "http://198.18.50.100/"
LAB = "webnd"
MEMBERS = ("web1", "web2")
# What halab installs on the members that destroy removes (and deploy brings back).
HALAB_FILES = ("/etc/corosync/corosync.conf", "/etc/corosync/authkey", "/var/lib/pacemaker/cib/cib.xml",
               "/etc/apache2/sites-available/halab.conf", "/etc/apache2/conf-available/halab-status.conf")


@pytest.fixture(scope="module", autouse=True)
def deployed(module_lab_state: Path) -> Path:
    """The lab up and deployed once for the module; web1 serves."""
    ok("lab", "up", EXAMPLE)
    ok("deploy", EXAMPLE)
    wait_for_page(VIP_URL, "web1", 60)  # web1 is preferred (300 > stickiness 2 x 100)
    return module_lab_state


def status_json() -> dict:
    result = halab("status", EXAMPLE, "--json")
    assert result.returncode in (0, 1), result.stdout + result.stderr
    return json.loads(result.stdout)


def test_a_deploy_keeps_a_move_and_says_so() -> None:
    assert "web runs on web2" in ok("move", EXAMPLE, "web", "web2")
    wait_for_page(VIP_URL, "web2", 30)
    again = ok("deploy", EXAMPLE)
    assert "kept operator state: cli-prefer-web (web moved to web2)" in again, again
    assert "no changes" in again, again  # keeping the move is no change
    assert wait_for_page(VIP_URL, "web2", 5) < 5  # still where it was moved


def test_maintenance_of_the_cluster_and_of_a_node() -> None:
    on = ok("maintenance", EXAMPLE, "on")
    assert "maintenance on for the whole cluster; cluster settled" in on and "(unmanaged)" in on, on
    report = status_json()
    assert report["maintenance_mode"] is True
    assert all(not r["managed"] for r in report["resources"]), report["resources"]
    assert "maintenance off" in ok("maintenance", EXAMPLE, "off")
    assert status_json()["maintenance_mode"] is False

    ok("maintenance", EXAMPLE, "on", "--node", "web2")
    nodes = {n["name"]: n for n in status_json()["nodes"]}
    assert nodes["web2"]["maintenance"] is True and nodes["web1"]["maintenance"] is False
    ok("maintenance", EXAMPLE, "off", "--node", "web2")
    assert not any(n["maintenance"] for n in status_json()["nodes"])
    assert wait_for_page(VIP_URL, "web2", 30) < 30  # the move still holds


def test_a_deploy_with_reset_removes_the_move() -> None:
    reset = ok("deploy", EXAMPLE, "--reset-operator-state")
    assert "removed operator state: cli-prefer-web (web moved to web2)" in reset, reset
    assert "kept operator state" not in reset, reset
    wait_for_page(VIP_URL, "web1", 60)  # back on the preferred node


def test_ban_and_clear() -> None:
    assert "web runs on web2" in ok("ban", EXAMPLE, "web", "web1", "--lifetime", "PT1H")
    wait_for_page(VIP_URL, "web2", 30)
    assert "web runs on web1" in ok("ban", EXAMPLE, "web", "web1", "--clear")  # failback to the preferred node
    wait_for_page(VIP_URL, "web1", 30)
    refused = halab("ban", EXAMPLE, "web", "web9")
    assert refused.returncode == 2 and "NODE: 'web9' is not a cluster member" in refused.stderr


def test_status_json_says_healthy() -> None:
    result = halab("status", EXAMPLE, "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 0 and report["healthy"] is True, report["problems"]
    assert {n["name"] for n in report["nodes"] if n["online"] and n["quorate"]} == {"web1", "web2"}
    assert {"id": "web-vip", "running_on": ["web1"], "managed": True} in report["resources"]
    assert report["failed_actions"] == [] and report["services"][0]["ok"] is True


def _archive(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def _secrets() -> list[bytes]:
    """The lab's BMC password (the fence devices') and web1's corosync authkey, raw and as
    base64 and hex, and the hacluster password's hash."""
    key = base64.b64decode(on(LAB, "web1", "base64 -w0 /etc/corosync/authkey").stdout.strip())
    shadow = on(LAB, "web1", "getent shadow hacluster").stdout.split(":")[1]
    assert len(key) >= 128
    password = os.environ["HALAB_LAB_BMC_PASSWORD"].encode()
    hashed = [shadow.encode()] if shadow.startswith("$") else []  # none when the file sets no password
    return [password, key, base64.b64encode(key), key.hex().encode(), *hashed]


def test_backup_holds_the_cib_and_corosync_conf_but_no_secret(tmp_path: Path) -> None:
    out = tmp_path / "webnd.tar.gz"
    assert "(secrets left out)" in ok("backup", EXAMPLE, "-o", str(out))
    members = _archive(out)
    for node in MEMBERS:
        cib = members[f"{node}/cib.xml"]
        assert b"<cib " in cib and b'name="password" value="REDACTED"' in cib
        assert b"totem {" in members[f"{node}/etc/corosync/corosync.conf"]
        assert b"<pacemaker-result " in members[f"{node}/crm_mon.xml"]
        assert b"pacemaker\t" in members[f"{node}/packages.tsv"]
    manifest = json.loads(members["manifest.json"])
    assert manifest["cluster"] == "webnd" and manifest["with_secrets"] is False
    assert all(not record["errors"] for record in manifest["nodes"].values()), manifest["nodes"]
    for secret in _secrets():
        assert not any(secret in data for data in members.values())
    refused = halab("backup", EXAMPLE, "-o", str(out))
    assert refused.returncode == 2 and "--force" in refused.stderr


def test_backup_with_secrets_is_mode_0600(tmp_path: Path) -> None:
    out = tmp_path / "webnd-full.tgz"
    ok("backup", EXAMPLE, "-o", str(out), "--with-secrets")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert os.environ["HALAB_LAB_BMC_PASSWORD"].encode() in _archive(out)["web1/cib.xml"]


def test_destroy_without_the_typed_name_touches_nothing() -> None:
    refused = halab("destroy", EXAMPLE, stdin="web\n")
    assert refused.returncode == 2 and "nothing was touched" in refused.stderr, refused.stderr
    refused = halab("destroy", EXAMPLE, stdin="")
    assert refused.returncode == 2, refused.stderr
    assert status_json()["healthy"] is True
    assert wait_for_page(VIP_URL, "web1", 5) < 5


def test_destroy_stops_everything_and_removes_halabs_files() -> None:
    done = ok("destroy", EXAMPLE, "--yes")
    assert "cluster webnd destroyed" in done and "the packages stay" in done, done
    assert page(VIP_URL) is None
    script = ("systemctl is-active pacemaker corosync apache2; systemctl is-enabled pacemaker corosync; "
              f"for f in {' '.join(HALAB_FILES)}; do test -e $f && echo present $f; done; "
              "ls -A /var/lib/pacemaker/cib | sed 's/^/cib: /'; ip -o -4 addr show | grep -c ' 198.18.50.100/'; "
              "dpkg-query -W -f='${db:Status-Abbrev}\\n' pacemaker corosync")  # fmt: skip
    for node in MEMBERS:
        lines = on(LAB, node, script).stdout.splitlines()
        assert lines[:5] == ["inactive", "inactive", "inactive", "disabled", "disabled"], (node, lines)
        assert not [line for line in lines if line.startswith(("present ", "cib: "))], (node, lines)
        assert [line.strip() for line in lines[5:]] == ["0", "ii", "ii"], (node, lines)  # no VIP; packages stay
    again = ok("destroy", EXAMPLE, "--yes")  # a destroyed cluster: nothing left to do
    assert "destroyed" in again, again


def test_a_deploy_brings_the_destroyed_cluster_back() -> None:
    ok("deploy", EXAMPLE)
    wait_for_page(VIP_URL, "web1", 90)
    for node in MEMBERS:
        missing = on(LAB, node, f"for f in {' '.join(HALAB_FILES)}; do test -e $f || echo missing $f; done").stdout
        assert missing == "", (node, missing)
    result = halab("status", EXAMPLE, "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 0 and report["healthy"] is True, report["problems"]

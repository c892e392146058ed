"""The halab.ha.files module run the way Ansible runs it (an args file), on a scratch
directory: create, no-op re-run, owner/mode correction, validation refusing a file
without touching it, check mode, and the former content returned."""

from __future__ import annotations

import grp
import json
import os
import pwd
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

MODULE = ROOT / "collections" / "ansible_collections" / "halab" / "ha" / "plugins" / "modules" / "files.py"
OWNER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name


def run(tmp_path: Path, check: bool = False, diff: bool = False, **params: object) -> dict:
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {**params, "_ansible_check_mode": check,
                                                        "_ansible_diff": diff}}))
    done = subprocess.run([sys.executable, str(MODULE), str(args)], capture_output=True, text=True, check=False)
    return json.loads(done.stdout)


def entries(root: Path, text: str = "Listen 80\n", **extra: object) -> dict:
    return {
        "directories": [{"path": str(root), "owner": OWNER, "group": GROUP, "mode": "0750"}],
        "files": [{"path": str(root / "a.conf"), "content": text, "owner": OWNER, "group": GROUP, **extra}],
    }


def test_creates_then_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "etc"
    first = run(tmp_path, **entries(root))
    assert first["changed"] is True and first["changed_paths"] == [str(root), str(root / "a.conf")], first
    assert (root / "a.conf").read_text() == "Listen 80\n"
    assert stat.S_IMODE(root.stat().st_mode) == 0o750
    assert stat.S_IMODE((root / "a.conf").stat().st_mode) == 0o644
    assert run(tmp_path, **entries(root))["changed"] is False
    assert [p.name for p in root.iterdir()] == ["a.conf"]  # no temporary file left


def test_corrects_mode_and_returns_former_content(tmp_path: Path) -> None:
    root = tmp_path / "etc"
    run(tmp_path, **entries(root))
    (root / "a.conf").chmod(0o600)
    fixed = run(tmp_path, **entries(root), return_previous=True)
    assert fixed["changed_paths"] == [str(root / "a.conf")] and fixed["previous"] == {}, fixed
    assert stat.S_IMODE((root / "a.conf").stat().st_mode) == 0o644
    rewritten = run(tmp_path, **entries(root, "Listen 8080\n"), return_previous=True, diff=True)
    assert rewritten["previous"] == {str(root / "a.conf"): "Listen 80\n"}, rewritten
    assert rewritten["diff"][0]["after"] == "Listen 8080\n"


def test_validation_failure_leaves_the_file(tmp_path: Path) -> None:
    root = tmp_path / "etc"
    run(tmp_path, **entries(root))
    refused = run(tmp_path, **entries(root, "broken\n", validate="grep -q Listen %s"))
    assert refused.get("failed") is True and "validation" in refused["msg"], refused
    assert (root / "a.conf").read_text() == "Listen 80\n"
    assert [p.name for p in root.iterdir()] == ["a.conf"]
    accepted = run(tmp_path, **entries(root, "Listen 81\n", validate="grep -q Listen %s"))
    assert accepted["changed"] is True and (root / "a.conf").read_text() == "Listen 81\n"


def test_check_mode_writes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "etc"
    result = run(tmp_path, check=True, **entries(root))
    assert result["changed"] is True
    assert not root.exists()


def test_a_missing_parent_is_a_clear_error(tmp_path: Path) -> None:
    result = run(tmp_path, files=[{"path": str(tmp_path / "no" / "such" / "a.conf"), "content": "x",
                                   "owner": OWNER, "group": GROUP}])
    assert result.get("failed") is True and "does not exist" in result["msg"], result


def test_a_secret_file_stays_out_of_the_diff_previous_and_validation_output(tmp_path: Path) -> None:
    root = tmp_path / "etc"
    run(tmp_path, **entries(root, "auth_pass old-pw\n", secret=True))
    changed = run(tmp_path, **entries(root, "auth_pass new-pw\n", secret=True), return_previous=True, diff=True)
    assert changed["changed"] is True and (root / "a.conf").read_text() == "auth_pass new-pw\n"
    assert "-pw" not in json.dumps({key: changed[key] for key in ("diff", "previous")}), changed
    refused = run(tmp_path, **entries(root, "auth_pass bad-pw\n", secret=True, validate="sh -c 'cat $0; exit 1' %s"))
    assert refused.get("failed") is True and "bad-pw" not in refused["msg"] + refused["stdout"] + refused["stderr"]

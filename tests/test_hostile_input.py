"""Hostile and careless input: exit 2 with the field path, no traceback, well under a
second, nothing written outside the output directory.

Each tests/hostile/*.yml file but the valid ones starts with `# expect: TEXT`: the error
message must contain TEXT. Special files (a device, a FIFO, a huge file) and hostile
output directories are made by the tests themselves.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import ROOT

HOSTILE = sorted(p for p in (ROOT / "tests" / "hostile").glob("*.yml") if not p.name.startswith("valid-"))
VALID = ROOT / "tests" / "hostile" / "valid-template-syntax.yml"
MINIMAL = ROOT / "examples" / "minimal.yml"


def _expected(path: Path) -> str:
    first = path.read_bytes().split(b"\n", 1)[0].decode()
    assert first.startswith("# expect: "), f"{path.name}: first line must be '# expect: ...'"
    return first.removeprefix("# expect: ")


@pytest.mark.parametrize("path", HOSTILE, ids=[p.stem for p in HOSTILE])
@pytest.mark.parametrize("verb", ["validate", "render", "inventory"])
def test_hostile_file_is_refused_with_its_path(halab, tmp_path: Path, path: Path, verb: str) -> None:
    args = [verb, path] + ([] if verb == "validate" else ["-o", tmp_path / "out"])
    started = time.monotonic()
    code, out, err = halab(*args)
    elapsed = time.monotonic() - started
    assert code == 2, out + err
    assert _expected(path) in err, err
    assert "Traceback" not in err
    assert elapsed < 1.0, f"{path.name}: {elapsed:.2f} s"
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def _cli(*args: object, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "halab", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, check=False)  # fmt: skip


@pytest.mark.parametrize("special", ["/dev/zero", "fifo", "directory", "huge"])
def test_special_and_huge_files_are_refused_at_once(tmp_path: Path, special: str) -> None:
    path = Path(special) if special.startswith("/") else tmp_path / special
    if special == "fifo":
        os.mkfifo(path)
    elif special == "directory":
        path.mkdir()
    elif special == "huge":
        path.write_text(MINIMAL.read_text() + "# padding\n" * 2_000_000)  # 20 MB
    started = time.monotonic()
    result = _cli("validate", path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert any(word in result.stderr for word in ("not a regular file", "at most", "is a directory")), result.stderr
    assert time.monotonic() - started < 10  # interpreter start-up included; the check itself is instant


def test_output_may_not_be_a_dangling_symlink_a_file_or_unwritable(halab, tmp_path: Path) -> None:
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    cases = {
        tmp_path / "dangling": "a symlink to nothing",
        tmp_path / "file" / "out": "cannot create it",
        tmp_path / "file": "is a file",
        Path("/proc/halab-out"): "cannot create it",
    }
    for output, words in cases.items():
        for verb in ("render", "inventory"):
            code, _, err = halab(verb, MINIMAL, "-o", output)
            assert code == 2 and words in err and "Traceback" not in err, (output, err)
    assert not (tmp_path / "nowhere").exists()


def test_symlinks_inside_the_output_are_never_followed(halab, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("untouched\n")
    out = tmp_path / "out"
    (out / "mini1").mkdir(parents=True)
    (out / "hosts.halab.yml").symlink_to(victim)
    code, _, err = halab("inventory", MINIMAL, "-o", out)
    assert code == 2 and "hosts.halab.yml: is not a regular file (a symlink?)" in err, err
    code, _, err = halab("inventory", MINIMAL, "-o", out, "--force")  # replaces the link itself
    assert code == 0, err
    assert victim.read_text() == "untouched\n"
    assert not (out / "hosts.halab.yml").is_symlink() and "cluster_members" in (out / "hosts.halab.yml").read_text()
    (out / "mini1" / "etc").symlink_to(tmp_path)  # a directory link: refused, nothing written through it
    code, _, err = halab("render", MINIMAL, "-o", out)
    assert code == 2 and "is a symlink inside the output directory" in err, err
    assert not (tmp_path / "apache2").exists()


def test_render_stays_inside_the_output_directory(halab, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, _, err = halab("render", VALID, "-o", out)
    assert code == 0, err
    outside = [p for p in tmp_path.rglob("*") if not p.is_relative_to(out)]
    assert outside == [], outside
    assert all(p.resolve().is_relative_to(out.resolve()) for p in out.rglob("*"))

"""Fixtures for real lab tests: isolated state dir, skip reasons, guaranteed teardown."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from halab.errors import HalabError
from halab.lab import names, network, state
from halab.lab.containerimage import export_image, image_tag, release_tag
from halab.lab.deps import missing_tools
from halab.lab.lab import down
from halab.lab.proc import run


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "lab tests need root (network namespaces, bridges, mounts)"
    if missing_tools():
        return f"lab tests need {', '.join(missing_tools())} (see docs/lab.md)"
    if shutil.which("systemd-nspawn") is None:
        return "systemd-nspawn unavailable"
    return None


@contextmanager
def _isolated_state(state_dir: Path, patch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private state dir (the image cache stays shared); every lab left in it is removed."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    patch.setenv("HALAB_STATE_DIR", str(state_dir))
    # The examples' fence devices and lab BMCs read it (tests that hunt for it set their own).
    patch.setenv("HALAB_LAB_BMC_PASSWORD", os.environ.get("HALAB_LAB_BMC_PASSWORD", "lab-bmc-test"))
    try:
        yield state_dir
    finally:
        for name in state.lab_names():
            print_bmc_logs(name)  # pytest shows it only for a failed test
            try:
                down(name)
            except HalabError as exc:  # report, but let the other labs go too
                print(f"teardown of lab {name} failed: {exc}")


def print_bmc_logs(name: str) -> None:
    """The last lines of each virtual BMC's log: sessions, power actions, errors."""
    st = state.load(name)
    for node, ns in (st.nodes if st else {}).items():
        log = ns.dir(name) / "bmc.log"
        if log.exists():
            print(f"--- {name}/{node} bmc.log (tail)\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:]))


@pytest.fixture
def lab_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Labs for one test."""
    with _isolated_state(tmp_path / "state", monkeypatch) as state_dir:
        yield state_dir


@pytest.fixture(scope="module")
def module_lab_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Labs shared by the tests of one module (they run in file order and build on each other)."""
    with pytest.MonkeyPatch.context() as patch, _isolated_state(tmp_path_factory.mktemp("lab") / "state", patch) as d:
        yield d


@pytest.fixture(scope="session")
def podman_node_image() -> Iterator[str]:
    """The trixie node image in Podman (its recipe tag). If this session imported it, it is
    removed at the end and the release tag points where it pointed before."""
    reason = _skip_reason()
    if reason or shutil.which("podman") is None:
        pytest.skip(reason or "podman is missing: apt-get install --no-install-recommends podman runc uidmap")
    tag, moved = image_tag("trixie"), release_tag("trixie")
    existed = run(["podman", "image", "exists", tag], check=False).returncode == 0
    before = _image_id(moved)
    yield export_image("trixie", "podman", say=print)
    if not existed:
        run(["podman", "rmi", "--force", _image_id(tag)], check=False)  # every tag of it, the moved one too
        if before:
            run(["podman", "tag", before, moved], check=False)


def _image_id(ref: str) -> str:
    return run(["podman", "image", "inspect", "--format", "{{.Id}}", ref], check=False).stdout.strip()


def leaks(lab: str, lab_dir: Path) -> list[str]:
    """Everything of `lab` still present on the host."""
    prefix = names.prefix(lab)
    found = []
    found += (
        [f"netns {n}" for n in os.listdir("/run/netns") if n.startswith(prefix)] if Path("/run/netns").is_dir() else []
    )
    found += [f"link {n}" for n in os.listdir("/sys/class/net") if n.startswith(prefix)]
    with open("/proc/self/mountinfo") as info:
        found += [f"mount {m}" for line in info if (m := line.split()[4]).startswith(str(lab_dir))]
    found += [f"rule {r}" for r in network.rules_tagged(lab)]
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if prefix in cmdline or str(lab_dir) in cmdline or f"halab.lab.bmcserver {lab} " in cmdline:
            found.append(f"process {pid}: {cmdline[:120]}")
    return found

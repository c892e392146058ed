"""Rendering: golden files per example, no secrets on disk, templates shared with the roles.

Regenerate the golden files after an intended template change:
    HALAB_UPDATE_GOLDEN=1 python -m pytest tests/test_render.py
and review the diff like code.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
import yaml

from halab.inventory import build_inventory
from halab.render import CIB_TEMPLATE, SECRET_PLACEHOLDER, TEMPLATES, render_all, write_rendered
from halab.validation import load_cluster

from .conftest import EXAMPLES, ROOT

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])
def test_rendering_matches_golden_files(tmp_path: Path, example: Path) -> None:
    out = tmp_path / "out"
    write_rendered(render_all(build_inventory(load_cluster(example))), out)
    golden = GOLDEN / example.stem
    if os.environ.get("HALAB_UPDATE_GOLDEN"):
        shutil.rmtree(golden, ignore_errors=True)
        shutil.copytree(out, golden)
    produced = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    expected = sorted(p.relative_to(golden) for p in golden.rglob("*") if p.is_file())
    assert produced == expected, "files differ from the golden set (HALAB_UPDATE_GOLDEN=1 to accept)"
    for rel in produced:
        assert (out / rel).read_text() == (golden / rel).read_text(), f"{example.stem}/{rel} differs"


def test_render_writes_no_secret(halab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HALAB_VRRP_PASS", "HALAB_IPMI_PASSWORD", "HALAB_HACLUSTER_PASSWORD", "HALAB_DRBD_SECRET"):
        monkeypatch.setenv(name, f"leak-{name}")
    for example in ("lvs-dr", "web-ap", "drbd9-three-node"):
        code, _, err = halab("render", ROOT / "examples" / f"{example}.yml", "-o", tmp_path / example)
        assert code == 0, err
    texts = [p.read_text() for p in tmp_path.rglob("*") if p.is_file()]
    assert not [t for t in texts if "leak-" in t]
    assert any(f"auth_pass {SECRET_PLACEHOLDER}" in t for t in texts)
    assert any(f'value="{SECRET_PLACEHOLDER}"' in t for t in texts)
    assert any(f'shared-secret "{SECRET_PLACEHOLDER}";' in t for t in texts)


def _templates_used(role: str) -> set[str]:
    """Templates a role's tasks render: `template` tasks' src and `lookup('template', ...)`
    (in its tasks or its vars)."""
    used = set()
    for path in (ROOT / "roles" / role / "vars").glob("*.yml"):
        used.update(re.findall(r"lookup\('template', '([^']+)'", path.read_text()))
    for path in (ROOT / "roles" / role / "tasks").glob("*.yml"):
        text = path.read_text()
        used.update(re.findall(r"lookup\('template', '([^']+)'", text))
        for task in yaml.safe_load(text) or []:
            for block in (task, *task.get("block", []), *task.get("rescue", [])):
                module = block.get("ansible.builtin.template") or block.get("template")
                if isinstance(module, dict):
                    used.add(module.get("src"))
    return used


@pytest.mark.parametrize("template", [*TEMPLATES, CIB_TEMPLATE], ids=lambda t: f"{t.role}/{t.name}")
def test_each_rendered_template_is_installed_by_its_role(template) -> None:
    """`halab render` and the roles use the same template files (one source)."""
    assert template.name in _templates_used(template.role), f"roles/{template.role}/tasks never renders {template.name}"


@pytest.mark.parametrize(("written", "rendered", "version"), [
    ("advert_int: 1", "1", None), ("advert_int: 1.0", "1", None), ("", "1", None), ("advert_int: 0.5", "0.5", 3),
    ("timing: fast", "0.2", 3), ("timing: wan", "2", None), ("timing: fast\n      advert_int: 1", "1", None)])
def test_advert_int_renders_the_same_however_written(tmp_path: Path, written: str, rendered: str,
                                                     version: int | None) -> None:
    """`1`, `1.0` and the default are one value: keepalived.conf says `advert_int 1` for each.
    A fractional interval (given or the timing's) is VRRPv3's: VRRPv2 would round it to seconds."""
    text = (ROOT / "examples" / "lvs-dr.yml").read_text().replace("      auth_pass: {env: HALAB_VRRP_PASS}\n", "")
    if written.startswith("timing"):
        text = text.replace("vrrp:\n", "vrrp:\n  " + written.split("\n")[0] + "\n")
        written = written.partition("\n")[2].strip()
    (tmp_path / "c.yml").write_text(text.replace("advert_int: 1", written))
    files = render_all(build_inventory(load_cluster(tmp_path / "c.yml")))
    confs = [f.content for f in files if f.dest == "/etc/keepalived/keepalived.conf"]
    assert confs and all(f"    advert_int {rendered}\n" in conf for conf in confs)
    assert all(("    version 3\n" in conf) == (version == 3) for conf in confs)


@pytest.mark.parametrize(("corosync", "token", "consensus"), [
    ("", 3000, None), ("timing: fast", 500, None), ("timing: wan", 10000, None),
    ("timing: fast\n  token: 1500\n  consensus: 2000", 1500, 2000)])
def test_timing_sets_the_token_the_file_leaves_out(tmp_path: Path, corosync: str, token: int,
                                                  consensus: int | None) -> None:
    """A timing profile gives the token (consensus follows it in corosync); explicit values win."""
    text = (ROOT / "examples" / "minimal.yml").read_text()
    (tmp_path / "c.yml").write_text(f"{text}\ncorosync:\n  {corosync or 'timing: default'}\n")
    files = render_all(build_inventory(load_cluster(tmp_path / "c.yml")))
    conf = next(f.content for f in files if f.dest == "/etc/corosync/corosync.conf")
    assert f"    token: {token}\n" in conf
    assert ("consensus:" in conf) == (consensus is not None)


def test_local_maps_set_one_key_and_null_removes_one() -> None:
    """`pacemaker_cluster_properties_local` (an operator's override file) is combined over
    halab's map key by key: one property set, one removed, the others kept."""
    inventory = build_inventory(load_cluster(ROOT / "examples" / "web-ap.yml"))
    inventory.group_vars["all"] |= {"pacemaker_cluster_properties_local": {"no-quorum-policy": "freeze",
                                                                          "stonith-enabled": None}}
    cib = next(f.content for f in render_all(inventory) if f.host is None)
    assert 'name="no-quorum-policy" value="freeze"' in cib
    assert "stonith-enabled" not in cib
    assert 'name="resource-stickiness" value="100"' in cib


def test_nat_real_servers_get_the_route_unit_and_no_direct_routing_files(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """What the lvs_realserver role installs, per method: a NAT-only real server gets its
    return-route unit, not the ARP sysctls and loopback VIP unit of direct routing."""
    monkeypatch.setenv("HALAB_VRRP_PASS", "render-test")
    text = (ROOT / "examples" / "lvs-dr-ci.yml").read_text()
    start, end = text.index("    - name: web\n"), text.index("    - name: web-nat\n")
    path = tmp_path / "nat-only.yml"
    path.write_text(text[:start] + text[end:])
    files = {item.dest for item in render_all(build_inventory(load_cluster(path))) if item.host == "rs1"}
    assert "/etc/systemd/system/halab-lvs-nat-routes.service" in files
    assert not files & {"/etc/sysctl.d/90-halab-lvs-realserver.conf", "/etc/systemd/system/halab-lvs-vip.service"}
    both = {item.dest for item in render_all(build_inventory(load_cluster(ROOT / "examples" / "lvs-dr-ci.yml")))
            if item.host == "rs1"}  # fmt: skip
    assert {"/etc/sysctl.d/90-halab-lvs-realserver.conf", "/etc/systemd/system/halab-lvs-nat-routes.service"} <= both

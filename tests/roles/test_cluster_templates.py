"""Render the corosync/pacemaker role templates for every example and check them with the
real tools: `corosync -t` (in a private network namespace holding the node's addresses) and
`crm_verify --xml-file` (on the CIB plus a status section where every member is online)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from halab.inventory import Inventory, build_inventory
from halab.simulate import with_online_status
from halab.validation import load_cluster

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yml"))
# The examples plus a file that uses every Pacemaker feature (not a topology to deploy).
CLUSTERS = [*EXAMPLES, ROOT / "tests" / "data" / "pacemaker.yml"]

try:  # the project's renderer, when present, is the reference context
    from halab.render import host_context, make_environment
except ImportError:  # pragma: no cover - fallback until halab/render.py lands
    import jinja2

    def make_environment() -> jinja2.Environment:
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(ROOT / "roles")),
                                 undefined=jinja2.StrictUndefined, trim_blocks=True,
                                 keep_trailing_newline=True)
        env.filters["bool"] = lambda v: v if isinstance(v, bool) else str(v).strip().lower() in (
            "yes", "on", "1", "true", "y", "t")
        return env

    def host_context(inventory: Inventory, host: str) -> dict:
        hosts = sorted({h for m in inventory.groups.values() for h in m} | set(inventory.host_vars))
        hostvars = {h: inventory.hostvars(h) for h in hosts}
        return {**hostvars[host], "inventory_hostname": host, "groups": {"all": hosts, **inventory.groups},
                "hostvars": hostvars}


def _inventories() -> list[tuple[str, Inventory]]:
    out = []
    for path in CLUSTERS:
        inv = build_inventory(load_cluster(path))
        if inv.groups["cluster_members"]:
            out.append((path.stem, inv))
    return out


CASES = _inventories()
IDS = [name for name, _ in CASES]


def _render(inv: Inventory, host: str, template: str) -> str:
    return make_environment().get_template(template).render(host_context(inv, host))


@pytest.mark.skipif(shutil.which("corosync") is None or shutil.which("unshare") is None,
                    reason="corosync/unshare not installed")
@pytest.mark.parametrize(("name", "inv"), CASES, ids=IDS)
def test_corosync_conf_passes_corosync_t(name: str, inv: Inventory, tmp_path: Path) -> None:
    _corosync_t(name, inv, tmp_path)


@pytest.mark.skipif(shutil.which("corosync") is None or shutil.which("unshare") is None,
                    reason="corosync/unshare not installed")
def test_every_knet_link_option_passes_corosync_t(tmp_path: Path) -> None:
    """The routed example with SCTP on link 1: every per-link option corosync.conf can get."""
    source = ROOT / "examples" / "routed-two-rooms.yml"
    text = source.read_text().replace("mcastport: 5420,", "mcastport: 5420, transport: sctp,")
    assert "transport: sctp" in text
    (tmp_path / "c.yml").write_text(text)
    inv = build_inventory(load_cluster(tmp_path / "c.yml"))
    conf = _corosync_t("sctp", inv, tmp_path)
    for key in ("knet_link_priority: 20", "knet_ping_interval: 500", "knet_ping_timeout: 1500",
                "knet_transport: sctp", "mcastport: 5420", "knet_pong_count: 3"):
        assert f"        {key}\n" in conf, key


def _corosync_t(name: str, inv: Inventory, tmp_path: Path) -> str:
    """Render every member's corosync.conf and check it with corosync -t; return the last one."""
    key = tmp_path / "authkey"
    key.write_bytes(bytes(range(256)))
    for host in inv.groups["cluster_members"]:
        text = _render(inv, host, "corosync/templates/corosync.conf.j2")
        assert f"cluster_name: {inv.group_vars['all']['corosync_cluster_name']}" in text
        assert text.count("node {") == len(inv.groups["cluster_members"])
        # corosync -t reads the authkey and needs the node's own addresses to be local.
        conf = tmp_path / f"{host}.conf"
        conf.write_text(text.replace("    version: 2\n", f"    version: 2\n    keyfile: {key}\n", 1))
        addrs = inv.hostvars(host)["corosync_link_addresses"]
        script = "ip link set lo up && " + " && ".join(
            f"ip addr add {a}/32 dev lo" for a in addrs) + f" && corosync -t -c {conf}"
        res = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, text=True)
        assert res.returncode == 0, f"{name}/{host}: corosync -t failed:\n{res.stdout}{res.stderr}"
    return text


def test_corosync_t_rejects_garbage(tmp_path: Path) -> None:
    if shutil.which("corosync") is None:
        pytest.skip("corosync not installed")
    bad = tmp_path / "bad.conf"
    bad.write_text("totem {\n    token: abc\n}\n")
    assert subprocess.run(["corosync", "-t", "-c", str(bad)], capture_output=True).returncode != 0


@pytest.mark.skipif(shutil.which("crm_verify") is None, reason="pacemaker-cli-utils not installed")
@pytest.mark.parametrize(("name", "inv"), CASES, ids=IDS)
def test_cib_passes_crm_verify(name: str, inv: Inventory, tmp_path: Path) -> None:
    members = inv.groups["cluster_members"]
    cib = _render(inv, members[0], "pacemaker/templates/cib.xml.j2")
    assert cib == _render(inv, members[-1], "pacemaker/templates/cib.xml.j2")  # host independent
    # Every id attribute declares an id, except a resource_ref's (it names a resource).
    ids = re.findall(r'<(?!resource_ref )[^>]*\bid="([^"]+)"', cib.split("<status")[0])
    node_ids = {str(inv.hostvars(h)["corosync_nodeid"]) for h in members}
    dupes = {i for i in ids if ids.count(i) > 1 and i not in node_ids}
    assert not dupes, f"duplicate ids: {dupes}"
    path = tmp_path / "cib.xml"
    path.write_text(with_online_status(cib, inv))
    res = subprocess.run(["crm_verify", "--xml-file", str(path), "-V"], capture_output=True, text=True)
    assert res.returncode == 0, f"{name}: crm_verify:\n{res.stdout}{res.stderr}"


@pytest.mark.skipif(shutil.which("crm_verify") is None, reason="pacemaker-cli-utils not installed")
def test_cib_structure_web_ap(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    inv = build_inventory(load_cluster(ROOT / "examples" / "web-ap.yml"))
    root = ET.fromstring(_render(inv, "ap1", "pacemaker/templates/cib.xml.j2"))
    resources = root.find("configuration/resources")
    assert resources is not None
    top = [el.get("id") for el in resources]
    assert top == ["fence-ap1", "fence-ap2", "web", "db", "drbd-www-clone", "drbd-db-clone"]
    assert [p.get("id") for p in resources.find("group[@id='web']")] == ["www-fs", "web-vip", "web-server"]
    clone = resources.find("clone[@id='drbd-www-clone']")
    assert clone.find("meta_attributes/nvpair[@name='promotable']").get("value") == "true"
    assert clone.find("primitive").get("id") == "drbd-www"
    col = root.find("configuration/constraints/rsc_colocation")
    assert col.get("with-rsc-role") == "Promoted"


def test_values_are_xml_escaped() -> None:
    import xml.etree.ElementTree as ET

    inv = build_inventory(load_cluster(ROOT / "examples" / "minimal.yml"))
    inv.group_vars["all"]["pacemaker_primitives"][0]["params"]["weird"] = '<a href="x">&\'</a>'
    root = ET.fromstring(_render(inv, "mini1", "pacemaker/templates/cib.xml.j2"))
    pair = root.find(".//nvpair[@name='weird']")
    assert pair is not None and pair.get("value") == '<a href="x">&\'</a>'

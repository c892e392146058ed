"""Render the apache/keepalived/lvs_realserver/drbd role templates for every example with
halab's renderer (the same context `halab render` uses) and check them with the real tools:
`keepalived -t` (in a throwaway network namespace holding the interfaces), `drbdadm -c FILE
dump` (drbdadm-84 for the 8.4 format), `apache2ctl -t` (on a copy of /etc/apache2 with the
rendered files enabled) and `systemd-analyze verify`."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from halab.inventory import Inventory, build_inventory
from halab.render import all_hostvars, host_context, make_environment
from halab.validation import load_cluster

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yml"))
DRBDADM_84 = Path("/usr/lib/drbd/drbdadm-84")
IS_ROOT = os.geteuid() == 0


def _inventories(group: str) -> list[tuple[str, Inventory]]:
    out = []
    for path in EXAMPLES:
        inv = build_inventory(load_cluster(path))
        if inv.groups[group]:
            out.append((path.stem, inv))
    return out


def _cases(group: str) -> list[Any]:
    return [pytest.param(inv, host, id=f"{name}-{host}")
            for name, inv in _inventories(group) for host in inv.groups[group]]


def _context(inv: Inventory, host: str, **extra: Any) -> dict[str, Any]:
    """The renderer's context (secrets redacted), plus `extra` variables."""
    ctx = copy.deepcopy(host_context(inv, host, all_hostvars(inv)))
    ctx.update(extra)
    return ctx


def _render(role: str, name: str, context: dict[str, Any]) -> str:
    return make_environment().get_template(f"{role}/templates/{name}").render(context)


def _run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False, **kwargs)


# --- keepalived -------------------------------------------------------------------------


@pytest.fixture
def netns() -> Iterator[Any]:
    """A factory for throwaway network namespaces `halabt-*` with veth interfaces."""
    created: list[str] = []

    def make(interfaces: set[str]) -> str:
        name = f"halabt-{uuid.uuid4().hex[:8]}"
        created.append(name)
        subprocess.run(["ip", "netns", "add", name], check=True)
        for index, ifname in enumerate(sorted(interfaces)):
            subprocess.run(["ip", "netns", "exec", name, "ip", "link", "add", ifname, "type",
                            "veth", "peer", "name", f"p{index}"], check=True)
        return name

    yield make
    for name in created:
        subprocess.run(["ip", "netns", "del", name], check=False)


def _keepalived_ok(netns: Any, inv_ctx: dict[str, Any], tmp_path: Path) -> str:
    text = _render("keepalived", "keepalived.conf.j2", inv_ctx)
    conf = tmp_path / "keepalived.conf"
    conf.write_text(text)
    interfaces = {i["interface"] for i in inv_ctx["keepalived_instances"]} | {
        t["interface"] for i in inv_ctx["keepalived_instances"] for t in i.get("track_interfaces", [])
    }
    result = _run(["ip", "netns", "exec", netns(interfaces), "keepalived", "-t", "-f", str(conf)])
    assert result.returncode == 0, f"{result.stdout}{result.stderr}\n{text}"
    return text


needs_keepalived = pytest.mark.skipif(
    not IS_ROOT or shutil.which("keepalived") is None or shutil.which("ip") is None,
    reason="keepalived -t in a network namespace needs root, keepalived and ip")


@needs_keepalived
@pytest.mark.parametrize(("inv", "host"), _cases("lvs_directors"))
@pytest.mark.parametrize("ipvs", [True, False], ids=["ipvs", "vrrp-only"])
def test_keepalived_conf_passes_keepalived_t(inv: Inventory, host: str, ipvs: bool, netns: Any,
                                             tmp_path: Path) -> None:
    ctx = _context(inv, host, keepalived_ipvs_enabled=ipvs)
    text = _keepalived_ok(netns, ctx, tmp_path)
    assert f"router_id {host}" in text
    assert ("virtual_server " in text) is (ipvs and bool(ctx["keepalived_virtual_servers"]))
    if not ipvs and ctx["keepalived_virtual_servers"]:
        assert "NOT configured" in text
    for instance in ctx["keepalived_instances"]:
        top = max(instance["priorities"].values())
        master = next(h for h, p in instance["priorities"].items() if p == top)
        block = text.split(f"vrrp_instance {instance['name']} {{")[1]
        expected = "MASTER" if host == master and instance["preempt"] else "BACKUP"
        assert block.split("\n")[1].strip() == f"state {expected}"
        assert f"priority {instance['priorities'][host]}" in block


@needs_keepalived
def test_keepalived_every_option_passes_keepalived_t(netns: Any, tmp_path: Path) -> None:
    """Scripts, sync groups, nopreempt, preempt_delay, notify, tracked interfaces and every check
    type/method."""
    inv = build_inventory(load_cluster(ROOT / "examples" / "lvs-dr.yml"))
    ctx = _context(inv, "lb1")
    base = ctx["keepalived_instances"][0]
    extra = [copy.deepcopy(base) | {
        "name": f"VI_{n}", "router_id": 60 + n, "vips": [f"198.18.20.{110 + n}/24"],
        "unicast": n == 2, "auth_pass": None, "track_scripts": ["chk_apache"],
        "notify": "/bin/true", "garp_master_delay": 3,
        "preempt": n != 1, "preempt_delay": 30 if n == 2 else None} for n in (1, 2)]
    fast = copy.deepcopy(base) | {"name": "VI_3", "router_id": 63, "vips": ["198.18.20.113/24"], "auth_pass": None,
                                  "advert_int": 0.2, "version": 3,  # timing: fast
                                  "track_interfaces": [{"interface": "eth1", "weight": -50},
                                                       {"interface": "eth2", "weight": 0}]}
    ctx["keepalived_instances"] += [*extra, fast]
    ctx["keepalived_scripts"] = [{"name": "chk_apache", "script": "/usr/bin/pgrep apache2",
                                  "interval": 2, "weight": 0, "rise": 2, "fall": 2}]
    ctx["keepalived_sync_groups"] = [{"name": "SG_WEB", "instances": ["VI_1", "VI_2"]}]
    web = ctx["keepalived_virtual_servers"][0]
    for port, (check, method) in enumerate(
            [("TCP_CHECK", "NAT"), ("MISC_CHECK", "TUN"), ("SSL_GET", "DR")], start=81):
        vs = copy.deepcopy(web) | {"name": f"vs{port}", "port": port, "method": method,
                                   "persistence_timeout": 300, "sorry_server": None}
        vs["health_check"] |= {"type": check, "script": "/bin/true"}
        for rs in vs["real_servers"]:
            rs["port"] = port
            del rs["health_check"]  # as a hand-written inventory may: the virtual server's applies
        ctx["keepalived_virtual_servers"].append(vs)
    text = _keepalived_ok(netns, ctx, tmp_path)
    for word in ("nopreempt", "preempt_delay 30", "vrrp_sync_group SG_WEB", "TCP_CHECK",
                 "MISC_CHECK", "SSL_GET", "lb_kind NAT", "persistence_timeout 300",
                 'notify "/bin/true"', "garp_master_delay 3", "vrrp_script chk_apache",
                 "version 3\n    advert_int 0.2", "track_interface {\n        eth1 weight -50\n        eth2\n    }"):
        assert word in text


@needs_keepalived
def test_keepalived_real_servers_of_their_own_pass_keepalived_t(netns: Any, tmp_path: Path) -> None:
    """From the cluster file: a real server with its own check (several URLs), an external
    one (an address, not a node) with a TCP check, the others with the virtual server's."""
    doc = yaml.safe_load((ROOT / "examples" / "lvs-dr.yml").read_text())
    doc["lvs"]["virtual_servers"][0]["real_servers"] = [
        {"node": "rs1", "weight": 2, "health_check": {"urls": [{"path": "/healthz"}, {"path": "/", "status": 200}]}},
        {"node": "rs2"},
        {"address": "198.18.20.40", "health_check": {"type": "TCP_CHECK", "connect_timeout": 2}},
    ]
    (tmp_path / "c.yml").write_text(yaml.safe_dump(doc))
    ctx = _context(build_inventory(load_cluster(tmp_path / "c.yml")), "lb1")
    text = _keepalived_ok(netns, ctx, tmp_path)
    blocks = {b.split(" ", 1)[0]: b for b in text.split("real_server ")[1:]}
    assert blocks["198.18.20.21"].count("url {") == 2 and "path /\n" in blocks["198.18.20.21"]
    assert "HTTP_GET" in blocks["198.18.20.22"] and "path /healthz" in blocks["198.18.20.22"]
    assert "TCP_CHECK" in blocks["198.18.20.40"] and "connect_timeout 2" in blocks["198.18.20.40"]
    external = [rs for rs in ctx["keepalived_virtual_servers"][0]["real_servers"] if rs["external"]]
    assert [rs["name"] for rs in external] == ["198.18.20.40"]


@needs_keepalived
def test_keepalived_t_reports_a_fractional_vrrpv2_interval(netns: Any, tmp_path: Path) -> None:
    """Why a fractional advert_int renders `version 3`: VRRPv2 would round it (a config error)."""
    inv = build_inventory(load_cluster(ROOT / "examples" / "lvs-dr.yml"))
    ctx = _context(inv, "lb1")
    ctx["keepalived_instances"][0] |= {"advert_int": 0.2, "auth_pass": None, "version": 2}
    conf = tmp_path / "keepalived.conf"
    conf.write_text(_render("keepalived", "keepalived.conf.j2", ctx))
    result = _run(["ip", "netns", "exec", netns({"eth0"}), "keepalived", "-t", "-f", str(conf)])
    assert result.returncode != 0 and "must be an integer" in result.stdout + result.stderr


@needs_keepalived
def test_keepalived_t_rejects_a_broken_file(netns: Any, tmp_path: Path) -> None:
    """The check itself works: keepalived -t exits non-zero on an unknown keyword."""
    inv = build_inventory(load_cluster(ROOT / "examples" / "lvs-dr.yml"))
    conf = tmp_path / "keepalived.conf"
    conf.write_text(_render("keepalived", "keepalived.conf.j2", _context(inv, "lb1"))
                    .replace("lb_algo wrr", "lb_algo wrr\n    no_such_keyword 1"))
    result = _run(["ip", "netns", "exec", netns({"eth0"}), "keepalived", "-t", "-f", str(conf)])
    assert result.returncode != 0


# --- drbd ---------------------------------------------------------------------------------


DRBD_ENV = {**os.environ, "DRBD_DONT_WARN_ON_VERSION_MISMATCH": "1"}


# Every option halab offers, and a shared secret holding the characters a quoted DRBD
# string can (drbdadm must read it back whole).
DRBD_SECRET = "a#b;c{d}e f'g"
DRBD_OPTIONS = {
    "fencing": "resource-and-stonith",
    "net_options": {"after-sb-0pri": "discard-zero-changes", "after-sb-1pri": "discard-secondary",
                    "after-sb-2pri": "disconnect", "max-buffers": 8000, "sndbuf-size": 0, "cram-hmac-alg": "sha512"},
    "disk_options": {"resync-rate": "100M", "on-io-error": "detach", "al-extents": 6433, "c-plan-ahead": 20,
                     "c-max-rate": "500M"},
    "shared_secret": DRBD_SECRET,
}


@pytest.mark.skipif(shutil.which("drbdadm") is None or not DRBDADM_84.exists(),
                    reason="drbd-utils (drbdadm, drbdadm-84) not installed")
@pytest.mark.parametrize(("inv", "host"), _cases("drbd_nodes"))
@pytest.mark.parametrize("fmt", [None, "8.4", "9"], ids=["default", "8.4", "9"])
@pytest.mark.parametrize("variant", ["as-is", "all-options"])
def test_drbd_res_passes_drbdadm_dump(inv: Inventory, host: str, fmt: str | None, variant: str,
                                      tmp_path: Path) -> None:
    extra: dict[str, Any] = {} if fmt is None else {"drbd_config_format": fmt}
    ctx = _context(inv, host, **extra)
    written = fmt or ("8.4" if ctx["drbd_version"] == "auto" else ctx["drbd_version"])  # as the template
    drbdadm = "drbdadm" if written == "9" else str(DRBDADM_84)
    for res in ctx["drbd_resources"]:
        if variant == "all-options":
            res.update(copy.deepcopy(DRBD_OPTIONS))
        text = _render("drbd", "drbd.res.j2", ctx | {"drbd_resource": res})
        path = tmp_path / f"{res['name']}.res"
        path.write_text(text)
        result = _run([drbdadm, "-c", str(path), "dump"], env=DRBD_ENV)
        assert result.returncode == 0, f"{result.stderr}\n{text}"
        assert f"resource {res['name']} {{" in result.stdout
        for node in res["nodes"]:
            assert f"{node['address']}:{res['port']}" in result.stdout
        for volume in res["volumes"]:
            assert re.search(rf"device\s+{volume['device']} minor {volume['minor']};", result.stdout)
        assert (len(res["volumes"]) > 1) is ("volume 1 {" in result.stdout)
        assert ("connection-mesh" in text) is (written == "9")
        fenced = res["fencing"] != "dont-care"
        assert ("crm-fence-peer.9.sh" in text) is fenced and (f"fencing {res['fencing']};" in text) is fenced
        for name, value in {**res["net_options"], **res["disk_options"]}.items():
            assert re.search(rf"^\s+{name}\s+{value};$", result.stdout, re.M), f"{name} {value}\n{result.stdout}"
        if variant == "all-options":
            assert f'shared-secret    "{DRBD_SECRET}";' in result.stdout, result.stdout


@pytest.mark.skipif(shutil.which("drbdadm") is None, reason="drbd-utils not installed")
def test_drbdadm_dump_rejects_a_broken_file(tmp_path: Path) -> None:
    inv = build_inventory(load_cluster(ROOT / "examples" / "web-ap.yml"))
    ctx = _context(inv, "ap1")
    res = ctx["drbd_resources"][0]
    path = tmp_path / "www.res"
    path.write_text(_render("drbd", "drbd.res.j2", ctx | {"drbd_resource": res})
                    .replace("protocol C;", "protocl C;"))
    assert _run([str(DRBDADM_84), "-c", str(path), "dump"], env=DRBD_ENV).returncode != 0


# --- apache -------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("apache2ctl") is None or not Path("/etc/apache2").is_dir(),
                    reason="apache2 not installed")
@pytest.mark.parametrize(("inv", "host"), _cases("apache_servers"))
def test_apache_config_passes_apache2ctl_t(inv: Inventory, host: str, tmp_path: Path) -> None:
    ctx = _context(inv, host)
    confdir = tmp_path / "apache2"
    shutil.copytree("/etc/apache2", confdir, symlinks=True)
    (confdir / "ports.conf").write_text(_render("apache", "ports.conf.j2", ctx))
    (confdir / "sites-available" / "halab.conf").write_text(
        _render("apache", "halab-site.conf.j2", ctx))
    (confdir / "conf-available" / "halab-status.conf").write_text(
        _render("apache", "halab-status.conf.j2", ctx))
    for link in (confdir / "sites-enabled").iterdir():
        link.unlink()
    (confdir / "sites-enabled" / "halab.conf").symlink_to("../sites-available/halab.conf")
    (confdir / "conf-enabled" / "halab-status.conf").symlink_to(
        "../conf-available/halab-status.conf")
    for module in ("status", "alias", "dir", "mime"):
        for suffix in (".load", ".conf"):
            target = confdir / "mods-available" / f"{module}{suffix}"
            link = confdir / "mods-enabled" / f"{module}{suffix}"
            if target.exists() and not link.exists():
                link.symlink_to(f"../mods-available/{module}{suffix}")
    env = {**os.environ, "APACHE_CONFDIR": str(confdir)}
    result = _run(["apache2ctl", "-t"], env=env)
    assert result.returncode == 0, result.stderr
    dump = _run(["apache2ctl", "-S"], env=env)
    assert f"*:{ctx['apache_port']}" in dump.stdout, dump.stdout + dump.stderr
    assert f'Alias "{ctx["apache_health_path"]}" ' in (confdir / "sites-available" /
                                                       "halab.conf").read_text()


@pytest.mark.parametrize(("inv", "host"), _cases("apache_servers"))
def test_index_names_the_node_unless_content_given(inv: Inventory, host: str) -> None:
    ctx = _context(inv, host)
    page = _render("apache", "index.html.j2", ctx)
    if ctx["apache_index_content"] is None:
        assert host in page
    else:
        assert page.strip() == ctx["apache_index_content"].strip()


# --- lvs_realserver -----------------------------------------------------------------------


@pytest.mark.parametrize(("inv", "host"), _cases("lvs_realservers"))
def test_realserver_sysctl_and_unit(inv: Inventory, host: str, tmp_path: Path) -> None:
    ctx = _context(inv, host)
    sysctl = _render("lvs_realserver", "halab-lvs-realserver.conf.j2", ctx)
    settings = dict(line.split(" = ") for line in sysctl.splitlines()
                    if line and not line.startswith("#"))
    assert settings == {"net.ipv4.conf.all.arp_ignore": "1", "net.ipv4.conf.all.arp_announce": "2",
                        "net.ipv4.conf.lo.arp_ignore": "1", "net.ipv4.conf.lo.arp_announce": "2"}
    for key in settings:  # the keys exist in this kernel
        assert Path("/proc/sys", *key.split(".")).exists(), key
    unit = _render("lvs_realserver", "halab-lvs-vip.service.j2", ctx)
    for vip in ctx["lvs_realserver_vips"]:
        if vip["method"] == "DR":
            assert f"ExecStart=/usr/sbin/ip address replace {vip['address']}/32 dev lo" in unit
            assert f"ExecStop=-/usr/sbin/ip address del {vip['address']}/32 dev lo" in unit
    _systemd_verify(tmp_path / "halab-lvs-vip.service", unit)


def _systemd_verify(path: Path, unit: str) -> None:
    """`systemd-analyze verify` accepts `unit`, written at `path` (named like the unit)."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed")
    path.write_text(unit)
    result = _run(["systemd-analyze", "verify", "--man=no", str(path)])
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("inv", "host"), [case for case in _cases("lvs_realservers")
                                           if _context(*case.values).get("lvs_realserver_nat_routes")])  # fmt: skip
def test_nat_route_unit(inv: Inventory, host: str, tmp_path: Path) -> None:
    ctx = _context(inv, host)
    unit = _render("lvs_realserver", "halab-lvs-nat-routes.service.j2", ctx)
    for route in ctx["lvs_realserver_nat_routes"]:
        assert f"ExecStart=/usr/sbin/ip route replace {route['to']} via {route['via']}" in unit
        assert f"ExecStop=-/usr/sbin/ip route del {route['to']} via {route['via']}" in unit
    _systemd_verify(tmp_path / "halab-lvs-nat-routes.service", unit)

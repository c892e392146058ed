"""What a deployed cluster must look like, derived from its cluster file.

Each check names the host and says what it expected and what it found.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from halab.model import Cluster
from halab.render import SECRET_PLACEHOLDER, RenderedFile
from halab.rolevars import fence_agents, release_of, role_vars
from halab.services import Probe, probes


def _packages(group: str, all_vars: dict[str, Any], release: str) -> list[str]:
    """What the roles install for a group on `release` (given the host's variables), read from
    their vars (halab.rolevars)."""

    def of(role: str, name: str) -> list[str]:
        return role_vars(role, release)[name]

    if group == "cluster_members":
        agents = {p["type"] for p in all_vars["pacemaker_primitives"] if p["class"] == "stonith"}
        fence = fence_agents(release)
        qdevice = all_vars.get("corosync_qdevice") and of("corosync", "__corosync_qdevice_packages")
        return [*of("corosync", "__corosync_packages"), *(qdevice or []), *of("pacemaker", "__pacemaker_packages"),
                *(pkg for agent in agents for pkg in fence.get(agent, []))]  # fmt: skip
    if group == "lvs_directors":
        ipvs = all_vars.get("keepalived_virtual_servers") and of("keepalived", "__keepalived_ipvs_packages")
        return [*of("keepalived", "__keepalived_packages"), *(ipvs or [])]
    if group == "service_hosts":  # the cluster file's services: their packages, as the inventory lists them
        return list(all_vars.get("services_packages", []))
    if group == "lvs_realservers":  # the role installs its tools for direct routing and NAT routes only
        direct = any(vip["method"] == "DR" for vip in all_vars.get("lvs_realserver_vips", []))
        routed = bool(all_vars.get("lvs_realserver_nat_routes"))
        return of("lvs_realserver", "__lvs_realserver_packages") if direct or routed else []
    roles = {"qdevice_hosts": ("corosync", "__corosync_qnetd_packages"),
             "apache_servers": ("apache", "__apache_packages"), "drbd_nodes": ("drbd", "__drbd_packages")}  # fmt: skip
    return of(*roles[group]) if group in roles else []


def test_packages_installed(host: Any, node: str, groups: set[str], inventory: Any) -> None:
    release = release_of(host.file("/etc/debian_version").content_string)
    wanted = sorted({pkg for group in groups for pkg in _packages(group, inventory.hostvars(node), release)})
    missing = [pkg for pkg in wanted if not host.package(pkg).is_installed]
    assert not missing, f"{node}: packages not installed: {missing}"


def _services(groups: set[str], inventory_vars: dict[str, Any]) -> dict[str, bool]:
    """Service -> should it be enabled and running under systemd (False: disabled, stopped)."""
    wanted: dict[str, bool] = {}
    if "cluster_members" in groups:
        wanted |= {"corosync": True, "pacemaker": True}
        if inventory_vars.get("corosync_qdevice"):
            wanted["corosync-qdevice"] = True
    if "qdevice_hosts" in groups:
        wanted["corosync-qnetd"] = True
    if "lvs_directors" in groups:
        wanted["keepalived"] = True
    if "apache_servers" in groups:
        wanted["apache2"] = not inventory_vars.get("apache_managed_by_pacemaker", False)
    if "service_hosts" in groups:  # the services' units: Pacemaker's (systemd:UNIT or an OCF agent)
        wanted |= dict.fromkeys(inventory_vars.get("services_units", []), False)
    return wanted


def test_services_state(host: Any, node: str, groups: set[str], inventory: Any) -> None:
    problems = []
    for name, managed_by_systemd in _services(groups, inventory.hostvars(node)).items():
        service = host.service(name)
        if managed_by_systemd and not (service.is_enabled and service.is_running):
            problems.append(
                f"{name} should be enabled and running (enabled={service.is_enabled}, running={service.is_running})"
            )
        if not managed_by_systemd and service.is_enabled:
            problems.append(f"{name} is enabled in systemd, but Pacemaker manages it")
    assert not problems, f"{node}: " + "; ".join(problems)


def _only(groups: set[str], group: str) -> None:
    if group not in groups:
        pytest.skip(f"not in {group}")


def test_corosync_membership_and_quorum(host: Any, node: str, groups: set[str], cluster: Cluster) -> None:
    _only(groups, "cluster_members")
    status = host.run("corosync-quorumtool -s -p")
    assert status.rc == 0, f"{node}: corosync-quorumtool -s failed: {status.stdout}{status.stderr}"
    assert re.search(r"^Quorate:\s+Yes", status.stdout, re.M), f"{node}: not quorate:\n{status.stdout}"
    listed = host.run("corosync-quorumtool -l").stdout
    # "Nodeid Votes [Qdevice] Name", the local node's name followed by "(local)"; a quorum
    # device adds the row "0 1 Qdevice" (node id 0), which is not a member
    member_row = re.compile(r"\s*[1-9]\d*\s+\d+\s")
    rows = [line.replace("(local)", "").split() for line in listed.splitlines() if member_row.match(line)]
    names = {row[-1] for row in rows}
    expected = {n.name for n in cluster.members}
    assert names == expected, f"{node}: membership {sorted(names)} != expected {sorted(expected)}"


def _tls(qdevice: dict[str, Any]) -> bool:
    return str(qdevice["tls"]).lower() not in ("off", "false", "no")


def test_quorum_device(host: Any, node: str, groups: set[str], inventory: Any) -> None:
    qdevice = inventory.hostvars(node).get("corosync_qdevice")
    if not qdevice:
        pytest.skip("no quorum device")
    problems = []
    if "cluster_members" in groups:
        members = len(inventory.groups["cluster_members"])
        out = host.run("corosync-quorumtool -s -p").stdout
        flags = re.search(r"^Flags:(.*)$", out, re.M)
        if not flags or "Qdevice" not in flags.group(1).split():
            problems.append("corosync-quorumtool shows no Qdevice flag")
        for field in ("Expected votes", "Total votes"):
            found = re.search(rf"^{field}:\s+(\d+)", out, re.M)
            if not found or int(found.group(1)) != members + 1:
                got = found.group(1) if found else "?"
                problems.append(f"{field} is {got}, expected {members + 1} (members + qdevice)")
        if not re.search(r"^\s*0\s+1\s+Qdevice\s*$", out, re.M):
            problems.append("the membership has no Qdevice vote")
        client = host.run("corosync-qdevice-tool -s -v").stdout
        if not re.search(r"^State:\s+Connected", client, re.M):
            problems.append(f"corosync-qdevice is not connected to {qdevice['host']}")
        elif _tls(qdevice) and not re.search(r"^TLS active:\s+Yes", client, re.M):
            problems.append("the quorum device connection does not use TLS")
        detail = f"{out}\n{client}"
    elif "qdevice_hosts" in groups:
        if qdevice["host"] not in inventory.hostvars(node).get("halab_addresses", {}).values():
            pytest.skip(f"not the quorum device server ({qdevice['host']})")
        if not host.service("corosync-qnetd").is_running:
            problems.append("corosync-qnetd is not running")
        out = host.run("corosync-qnetd-tool -l -v").stdout
        name = inventory.hostvars(node)["corosync_cluster_name"]
        if f'Cluster "{name}":' not in out:
            problems.append(f"corosync-qnetd-tool -l does not list cluster {name}")
        elif _tls(qdevice) and len(re.findall(r"TLS active:\s+Yes", out)) < len(inventory.groups["cluster_members"]):
            problems.append("not every member's connection uses TLS")
        detail = out
    else:
        pytest.skip("neither a member nor the quorum device server")
    assert not problems, f"{node}: " + "; ".join(problems) + f"\n{detail}"


def test_corosync_links_connected(host: Any, node: str, groups: set[str], cluster: Cluster) -> None:
    _only(groups, "cluster_members")
    out = host.run("corosync-cfgtool -s").stdout
    links = len(cluster.links)
    for link in range(links):
        assert f"LINK ID {link}" in out, f"{node}: corosync link {link} missing:\n{out}"
    down = [
        line.strip()
        for line in out.splitlines()
        if "nodeid" in line and "localhost" not in line and "connected" not in line
    ]
    assert not down, f"{node}: links not connected: {down}"


def _crm_mon(host: Any) -> ET.Element:
    result = host.run("crm_mon -1 --output-as=xml")
    assert result.rc == 0, f"crm_mon failed: {result.stderr}"
    return ET.fromstring(result.stdout)


def test_pacemaker_nodes_online_and_no_failures(host: Any, node: str, groups: set[str], cluster: Cluster) -> None:
    _only(groups, "cluster_members")
    mon = _crm_mon(host)
    nodes = {n.get("name"): n for n in mon.findall("./nodes/node")}
    offline = [n.name for n in cluster.members if nodes.get(n.name) is None or nodes[n.name].get("online") != "true"]
    assert not offline, f"{node}: nodes not online in Pacemaker: {offline}"
    failures = [
        f"{f.get('op_key')} on {f.get('node')}: {f.get('exitreason') or f.get('status')}" for f in mon.iter("failure")
    ]
    assert not failures, f"{node}: failed actions: {failures}"


def test_every_resource_runs_where_allowed(host: Any, node: str, groups: set[str], inventory: Any) -> None:
    _only(groups, "cluster_members")
    if node != inventory.groups["cluster_members"][0]:
        pytest.skip("checked once, from the first member")
    mon = _crm_mon(host)
    running: dict[str, list[str]] = {}
    for res in mon.iter("resource"):
        rid = res.get("id", "").split(":")[0]
        if res.get("active") == "true" and res.get("failed") != "true":
            running.setdefault(rid, []).extend(n.get("name", "") for n in res.iter("node"))
    clones = {c["resource"]: c["id"] for c in inventory.hostvars(node)["pacemaker_clones"]}
    grouped_in_clone = {
        m for g in inventory.hostvars(node)["pacemaker_groups"] if g["id"] in clones for m in g["members"]
    }
    problems = []
    for primitive in inventory.hostvars(node)["pacemaker_primitives"]:
        rid = primitive["id"]
        where = running.get(rid, [])
        if not where:
            problems.append(f"{rid} is not running anywhere")
        elif rid not in clones and rid not in grouped_in_clone and len(where) != 1:
            problems.append(f"{rid} runs on {where}, expected exactly one node")
    assert not problems, f"{node}: " + "; ".join(problems)


def _stonith_ids(hostvars: dict[str, Any]) -> list[str]:
    return [p["id"] for p in hostvars["pacemaker_primitives"] if p["class"] == "stonith"]


def test_fencing_is_enabled_registered_and_ordered(host: Any, node: str, groups: set[str], inventory: Any,
                                                   peer: Any) -> None:  # fmt: skip
    """stonith-enabled matches the file; every device is registered with some member's
    fencer; the live fencing topology is the file's levels."""
    _only(groups, "cluster_members")
    members = inventory.groups["cluster_members"]
    if node != members[0]:
        pytest.skip("checked once, from the first member")
    devices = _stonith_ids(inventory.hostvars(node))
    problems = []
    enabled = host.run("crm_attribute --type crm_config --name stonith-enabled --query --quiet").stdout.strip()
    if (enabled == "true") != bool(devices):
        problems.append(f"stonith-enabled is {enabled or 'unset'} with {len(devices)} fence device(s) configured")
    registered = {line.strip() for name in members
                  for line in peer(name).run("stonith_admin --list-registered").stdout.splitlines()[:-1]}  # fmt: skip
    missing = sorted(set(devices) - registered)
    if missing:
        problems.append(f"fence devices not registered with any member's fencer: {missing}")
    wanted = sorted((lv["target"], lv["index"], ",".join(lv["devices"]))
                    for lv in inventory.hostvars(node).get("pacemaker_fencing_levels", []))  # fmt: skip
    live_xml = host.run("cibadmin --query --scope fencing-topology").stdout
    live = sorted((e.get("target"), int(e.get("index", 0)), e.get("devices")) for e in
                  ET.fromstring(live_xml).iter("fencing-level")) if live_xml.strip() else []  # fmt: skip
    if live != wanted:
        problems.append(f"fencing topology {live} differs from the file's levels {wanted}")
    assert not problems, f"{node}: " + "; ".join(problems)


def _probe_problem(host: Any, probe: Probe, holders: list[str]) -> str | None:
    """Why `probe` fails from `host` (None: it serves), in the words of `Probe.describe`."""
    if probe.kind == "http":
        code = host.run(f"curl -s -o /dev/null -m 5 -w '%{{http_code}}' {probe.url}").stdout.strip()
        return None if code == str(probe.status) else f"answered {code if code not in ('', '000') else 'nothing'}"
    if probe.kind == "tcp":
        command = f"timeout 5 bash -c 'exec 3<>/dev/tcp/{probe.address}/{probe.port}'"
        return None if host.run(command).rc == 0 else "refused or timed out"
    if len(holders) != 1:
        return f"held by {holders or 'no node'}"
    return None if host.run(f"ping -c1 -W2 {probe.address}").rc == 0 else f"held by {holders[0]} but no ping answer"


def test_floating_ips_answer(host: Any, node: str, groups: set[str], cluster: Cluster, inventory: Any,
                             peer: Any) -> None:  # fmt: skip
    """Each Pacemaker floating IP serves what it fronts, checked for what that is (halab.services)."""
    _only(groups, "cluster_members")
    members = inventory.groups["cluster_members"]
    addresses = {name: peer(name).run("ip -o -4 addr show").stdout for name in members}
    problems = []
    for probe in probes(cluster):
        if probe.vip not in {r.name for r in cluster.resources}:
            continue  # a VRRP VIP: the LVS checks below
        holders = [name for name, out in addresses.items() if f" {probe.address}/" in out]
        problem = _probe_problem(host, probe, holders)
        if problem:
            problems.append(f"{probe.vip} (fronting {probe.service}): {probe.describe()} failed from {node}: {problem}")
    assert not problems, "; ".join(problems)


def test_apache_health_endpoint(host: Any, node: str, groups: set[str], cluster: Cluster) -> None:
    """Wherever Apache runs, the health URL answers 200 (LVS checks and monitors use it)."""
    _only(groups, "apache_servers")
    if not host.run("pgrep -x apache2").succeeded:
        pytest.skip(f"Apache is not running on {node} (a passive cluster member)")
    url = f"http://127.0.0.1:{cluster.apache.port}{cluster.apache.health_path}"
    code = host.run(f"curl -s -o /dev/null -m 5 -w '%{{http_code}}' {url}").stdout.strip()
    assert code == "200", f"{node}: {url} answered {code or 'nothing'} (expected 200)"


def _same(expected: str, actual: str) -> bool:
    """Equal, except lines that carry a redacted secret (compared up to the secret)."""
    want, have = expected.splitlines(), actual.splitlines()
    if len(want) != len(have):
        return False
    for line, other in zip(want, have, strict=True):
        if SECRET_PLACEHOLDER in line:
            if not other.startswith(line.split(SECRET_PLACEHOLDER)[0]):
                return False
        elif line.rstrip() != other.rstrip():
            return False
    return True


def test_config_files_match_rendering(host: Any, node: str, rendered: list[RenderedFile]) -> None:
    problems = []
    for item in rendered:
        if item.host != node:
            continue
        remote = host.file(item.dest)
        if not remote.exists:
            problems.append(f"{item.dest} is missing")
        elif not _same(item.content, remote.content_string):
            problems.append(f"{item.dest} differs from `halab render` (edited by hand, or not deployed)")
    assert not problems, f"{node}: " + "; ".join(problems)


def test_vrrp_vip_on_exactly_one_director(host: Any, node: str, groups: set[str], inventory: Any, peer: Any) -> None:
    _only(groups, "lvs_directors")
    directors = inventory.groups["lvs_directors"]
    if node != directors[0]:
        pytest.skip("checked once, from the first director")
    addresses = {name: peer(name).run("ip -o -4 addr show").stdout for name in directors}
    problems = []
    for instance in inventory.hostvars(node).get("keepalived_instances", []):
        for vip in instance["vips"]:
            holders = [name for name, out in addresses.items() if f" {vip} " in out]
            if len(holders) != 1:
                problems.append(f"{vip} is held by {holders or 'no director'}")
    assert not problems, "; ".join(problems)


def test_vrrp_vips_serve_apache_of_web_directors(host: Any, node: str, groups: set[str], inventory: Any,
                                                 cluster: Cluster) -> None:  # fmt: skip
    """Directors that run Apache themselves (role web, no virtual server on the VIP): each VIP
    answers Apache's health URL, wherever it is held."""
    _only(groups, "lvs_directors")
    directors = inventory.groups["lvs_directors"]
    if node != directors[0]:
        pytest.skip("checked once, from the first director")
    if not set(directors) <= set(inventory.groups.get("apache_servers", [])):
        pytest.skip("the directors do not run Apache")
    fronted = {str(vs.vip) for vs in cluster.lvs.virtual_servers} if cluster.lvs else set()
    problems = []
    for instance in inventory.hostvars(node).get("keepalived_instances", []):
        for address in (vip.split("/")[0] for vip in instance["vips"]):
            if address in fronted:
                continue
            url = f"http://{address}:{cluster.apache.port}{cluster.apache.health_path}"
            code = host.run(f"curl -s -o /dev/null -m 5 -w '%{{http_code}}' {url}").stdout.strip()
            if code != "200":
                problems.append(f"{url} answered {code or 'nothing'} (expected 200)")
    assert not problems, "; ".join(problems)


def test_ipvs_lists_every_virtual_service_with_its_real_servers(
    host: Any, node: str, groups: set[str], inventory: Any
) -> None:
    _only(groups, "lvs_directors")
    if not host.file("/proc/net/ip_vs").exists:
        pytest.skip("this kernel has no ip_vs: the director runs VRRP only")
    table = host.run("ipvsadm -Ln").stdout
    problems = []
    for vs in inventory.hostvars(node).get("keepalived_virtual_servers", []):
        service = f"{vs['protocol']}  {vs['vip']}:{vs['port']}"
        block = table.split(service, 1)[1].split("\nTCP", 1)[0].split("\nUDP", 1)[0] if service in table else None
        if block is None:
            problems.append(f"virtual service {vs['vip']}:{vs['port']} missing from ipvsadm -Ln")
            continue
        missing = [rs["name"] for rs in vs["real_servers"] if f"-> {rs['address']}:{rs['port']}" not in block]
        if missing:
            problems.append(f"{vs['vip']}:{vs['port']}: real servers not in the table (unhealthy?): {missing}")
    assert not problems, f"{node}: " + "; ".join(problems)


def test_nat_replies_route_through_the_directors(host: Any, node: str, groups: set[str], inventory: Any) -> None:
    _only(groups, "lvs_realservers")
    routes = inventory.hostvars(node).get("lvs_realserver_nat_routes", [])
    if not routes:
        pytest.skip("serves no NAT virtual service (or its routing is not halab's)")
    problems = []
    for route in routes:
        found = host.run(f"ip -4 route show exact {route['to']}").stdout.strip()
        if f"via {route['via']} " not in found + " ":
            problems.append(f"{route['to']} should go via {route['via']}, found: {found or 'no route'}")
    assert not problems, f"{node}: " + "; ".join(problems)


def test_lvs_spreads_requests_over_real_servers(node: str, groups: set[str], inventory: Any) -> None:
    """From this machine: requests through each HTTP virtual service reach more than one real server."""
    import urllib.request

    _only(groups, "lvs_directors")
    if node != inventory.groups["lvs_directors"][0]:
        pytest.skip("checked once")
    problems = []
    for vs in inventory.hostvars(node).get("keepalived_virtual_servers", []):
        ours = [rs["name"] for rs in vs["real_servers"] if not rs.get("external")]  # their pages name them
        if vs["persistence_timeout"] or len(ours) < 2 or vs["health_check"]["type"] != "HTTP_GET":
            continue
        answers = set()
        for _ in range(12):
            try:
                with urllib.request.urlopen(f"http://{vs['vip']}:{vs['port']}/", timeout=3) as reply:
                    body = reply.read().decode(errors="replace")
            except OSError as exc:
                problems.append(f"{vs['vip']}:{vs['port']} did not answer from here: {exc}")
                break
            answers |= {name for name in ours if name in body}
        if not problems and len(answers) < 2:
            problems.append(f"{vs['vip']}:{vs['port']}: 12 requests reached only {sorted(answers)}")
    assert not problems, "; ".join(problems)


def test_drbd_connected_uptodate_and_primary_only_where_mounted(
    host: Any, node: str, groups: set[str], inventory: Any
) -> None:
    _only(groups, "drbd_nodes")
    problems = []
    for res in inventory.hostvars(node).get("drbd_resources", []):
        name = res["name"]
        cstate = host.run(f"drbdadm cstate {name}").stdout.strip()
        dstate = host.run(f"drbdadm dstate {name}").stdout.strip()
        role = host.run(f"drbdadm role {name}").stdout.strip().split("/")[0]
        devices = [volume["device"] for volume in res["volumes"]]
        mounted = any(host.run(f"findmnt -n --source {device}").rc == 0 for device in devices)
        if cstate != "Connected":
            problems.append(f"{name}: connection {cstate or 'unknown'}, expected Connected")
        if set(dstate.split()) != {"UpToDate/UpToDate"}:  # a line per volume
            problems.append(f"{name}: disk states {dstate or 'unknown'}, expected UpToDate/UpToDate")
        if (role == "Primary") != mounted:
            problems.append(f"{name}: role {role} but {' '.join(devices)} {'is' if mounted else 'is not'} mounted")
    assert not problems, f"{node}: " + "; ".join(problems)

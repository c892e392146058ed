"""The generated inventory: what Ansible itself reads from it, secrets, regeneration."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from halab.inventory import build_inventory, write_inventory
from halab.validation import load_cluster

from .conftest import EXAMPLES, ROOT
from .test_validation import VAULTED


def _ansible_inventory(directory: Path) -> dict:
    out = subprocess.run(["ansible-inventory", "-i", str(directory), "--list"], check=False,
                         capture_output=True, text=True, env=os.environ | {"ANSIBLE_NOCOLOR": "1"})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])
def test_ansible_reads_the_generated_inventory(tmp_path: Path, example: Path) -> None:
    cluster = load_cluster(example)
    write_inventory(build_inventory(cluster), tmp_path, str(example))
    listed = _ansible_inventory(tmp_path)
    hostvars = listed["_meta"]["hostvars"]
    assert set(hostvars) == {n.name for n in cluster.nodes}
    members = listed.get("cluster_members", {}).get("hosts", [])
    assert members == [n.name for n in cluster.members]
    for node in cluster.nodes:
        assert hostvars[node.name]["ansible_host"] == str(cluster.primary_address(node))
        assert hostvars[node.name]["halab_cluster_name"] == cluster.name


def test_secrets_become_lookups_not_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HALAB_IPMI_PASSWORD", "do-not-leak-me")
    cluster = load_cluster(ROOT / "examples" / "web-ap.yml")
    write_inventory(build_inventory(cluster), tmp_path, "web-ap.yml")
    text = "".join(p.read_text() for p in tmp_path.rglob("*.yml"))
    assert "do-not-leak-me" not in text
    assert "password: '{{ lookup(''halab.ha.secret'', halab_secrets[''fencing.devices[0].password'']) }}'" in text
    secrets = build_inventory(cluster).group_vars["all"]["halab_secrets"]
    assert secrets["fencing.devices[0].password"] == {
        "name": "fencing.devices[0].password", "format": "ipmi_password", "env": "HALAB_IPMI_PASSWORD"}


def test_services_land_on_their_nodes_with_a_secret_file_as_a_lookup(tmp_path: Path) -> None:
    source = (ROOT / "examples" / "redis.yml").read_text().replace(
        "    units: [redis-server]\n",
        "    units: [redis-server]\n  - name: exporter\n    nodes: [kv2]\n    packages: [redis-tools, curl]\n"
        "    directories: [{path: /etc/halab-exporter, mode: '0750'}]\n"
        "    files: [{path: /etc/halab-exporter/conf, content: \"x: '{{ not templated }}'\\n\"}]\n"
        "    units: [exporter.timer]\n")
    (tmp_path / "kv.yml").write_text(source)
    inventory = build_inventory(load_cluster(tmp_path / "kv.yml"))
    assert inventory.groups["service_hosts"] == ["kv1", "kv2"]
    kv1, kv2 = inventory.host_vars["kv1"], inventory.host_vars["kv2"]
    assert kv1["services_units"] == ["redis-server.service"]
    assert kv2["services_units"] == ["redis-server.service", "exporter.timer"]
    assert kv2["services_packages"] == ["redis-server", "redis-tools", "curl"]  # each once
    assert kv2["services_directories"] == [{"path": "/etc/halab-exporter", "owner": "root", "group": "root",
                                            "mode": "0750"}]  # fmt: skip
    secret = kv1["services_files"][1]
    assert secret["content"] is None and secret["mode"] == "0640"
    assert secret["secret"] == "{{ lookup('halab.ha.secret', halab_secrets['services[0].files[1].secret']) }}"
    assert inventory.group_vars["all"]["halab_secrets"]["services[0].files[1].secret"] == {
        "name": "services[0].files[1].secret", "format": "line", "env": "HALAB_REDIS_AUTH"}
    write_inventory(inventory, tmp_path / "inv", "kv.yml")
    text = (tmp_path / "inv" / "host_vars" / "kv2" / "halab.yml").read_text()
    assert "content: !unsafe 'x: ''{{ not templated }}''" in text  # data: Ansible never templates it


def test_vault_secret_stays_encrypted(tmp_path: Path) -> None:
    source = (ROOT / "examples" / "lvs-dr.yml").read_text().replace(
        "auth_pass: {env: HALAB_VRRP_PASS}",
        "auth_pass: " + VAULTED)
    (tmp_path / "c.yml").write_text(source)
    out = tmp_path / "inv"
    write_inventory(build_inventory(load_cluster(tmp_path / "c.yml")), out, "c.yml")
    text = (out / "group_vars" / "all" / "halab.yml").read_text()
    assert "    vault: !vault |" in text and "$ANSIBLE_VAULT;1.1;AES256" in text
    assert "auth_pass: '{{ lookup(''halab.ha.secret'', halab_secrets[''vrrp.instances[0].auth_pass'']) }}'" in text


def test_a_routed_cluster_links_each_member_in_its_room_and_bans_ips_elsewhere() -> None:
    cluster = load_cluster(ROOT / "examples" / "routed-two-rooms.yml")
    inv = build_inventory(cluster)
    assert inv.hostvars("a1")["corosync_link_addresses"] == ["198.18.50.11", "198.18.51.11"]
    assert inv.hostvars("b2")["corosync_link_addresses"] == ["198.18.60.12", "198.18.61.12"]
    assert inv.hostvars("b2")["ansible_host"] == "198.18.60.12"  # its room's network of link 0
    links = inv.group_vars["all"]["corosync_links"]
    assert links[0] == {"linknumber": 0, "networks": ["lan-a", "lan-b"],
                        "options": {"knet_link_priority": 20, "knet_ping_interval": 500, "knet_ping_timeout": 1500}}
    bans = {(loc["resource"], loc["node"]) for loc in inv.group_vars["all"]["pacemaker_locations"]
            if loc["score"] == "-INFINITY" and not loc["resource"].startswith("bmc-")}
    assert bans == {("site-a", "b1"), ("site-a", "b2"), ("vip-b", "a1"), ("vip-b", "a2")}


def test_drbd_filesystem_derives_clone_and_constraints() -> None:
    inv = build_inventory(load_cluster(ROOT / "examples" / "web-ap.yml"))
    pcmk = inv.group_vars["all"]
    clone = next(c for c in pcmk["pacemaker_clones"] if c["id"] == "drbd-www-clone")
    assert clone["promotable"] and clone["meta"]["notify"] == "true"
    colocation = next(c for c in pcmk["pacemaker_colocations"] if c["with"] == "drbd-www-clone")
    assert colocation == {"id": "col-web-with-drbd-www-clone", "resource": "web", "with": "drbd-www-clone",
                          "score": "INFINITY", "with_role": "Promoted"}
    order = next(o for o in pcmk["pacemaker_orders"] if o["first"] == "drbd-www-clone")
    assert (order["first_action"], order["then"], order["then_action"]) == ("promote", "web", "start")
    assert pcmk["pacemaker_cluster_properties"]["stonith-enabled"] == "true"


def test_corosync_node_ids_fill_gaps_after_explicit_ones(tmp_path: Path) -> None:
    text = (ROOT / "examples" / "three-node-aa.yml").read_text().replace(
        "- {name: aa2, addresses:", "- {name: aa2, id: 1, addresses:")
    (tmp_path / "c.yml").write_text(text)
    ids = load_cluster(tmp_path / "c.yml").node_ids()
    assert ids == {"aa1": 2, "aa2": 1, "aa3": 3}

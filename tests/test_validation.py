"""Validation: every bad input gets exit 2, a field path, a hint, and no traceback."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from halab.errors import InvalidInput
from halab.validation import load_cluster

from .conftest import EXAMPLES

BASE: dict[str, Any] = {
    "name": "t",
    "networks": [{"name": "lan", "subnet": "198.18.90.0/24"}, {"name": "hb", "subnet": "198.18.91.0/24"}],
    "nodes": [
        {"name": "n1", "addresses": {"lan": "198.18.90.11", "hb": "198.18.91.11"}},
        {"name": "n2", "addresses": {"lan": "198.18.90.12", "hb": "198.18.91.12"}},
        {"name": "d1", "roles": ["director"], "addresses": {"lan": "198.18.90.21"}},
        {"name": "d2", "roles": ["director"], "addresses": {"lan": "198.18.90.22"}},
        {"name": "r1", "roles": ["realserver"], "addresses": {"lan": "198.18.90.31"}},
    ],
    "corosync": {"links": ["lan", "hb"], "quorum": {"two_node": True}},
    "fencing": "disabled",
    "resources": [
        {"name": "fs", "type": "filesystem", "drbd": "r0", "directory": "/srv"},
        {"name": "vip", "type": "ip", "address": "198.18.90.100"},
        {"name": "web", "type": "apache"},
        {"name": "site", "type": "group", "members": ["fs", "vip", "web"]},
    ],
    "constraints": {"location": [{"resource": "site", "node": "n1"}]},
    "drbd": {"resources": [{"name": "r0", "disk": "/dev/vdb"}]},
    "vrrp": {"instances": [{"name": "VI_1", "router_id": 51, "network": "lan", "vips": ["198.18.90.200"]}]},
    "lvs": {"virtual_servers": [{"name": "web", "vip": "198.18.90.200"}]},
}


def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Return a copy of doc with the dotted path (list indexes as numbers) set or deleted."""
    doc = copy.deepcopy(doc)
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    target: Any = doc
    for part in parents:
        target = target[part]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return doc


DELETE = object()
# `ansible-vault encrypt_string --vault-password-file <(echo vpass) s3cret` (test data only).
VAULTED = """!vault |
          $ANSIBLE_VAULT;1.1;AES256
          38643634653762376237383833313934306530336130373862306364363737323736323338363432
          6539613034623261626264326630393739313235333266310a363564633333343037323762346632
          33623535323539353461393864346363343165313135333932376431633964303531666432653865
          3766363862633639380a633238646539386334346266383634613138393165326163633733613166
          3032"""



def _service(**fields: Any) -> dict[str, Any]:
    """A `services[]` entry for the members, `fields` changed."""
    return {"name": "redis", "packages": ["redis-server"], "units": ["redis-server"]} | fields


def _alert(fields: dict[str, Any]) -> dict[str, Any]:
    """A `pacemaker:` section with one file alert, `fields` changed (None: left out)."""
    alert = {"name": "a", "agent": "file", "recipients": ["/var/log/a.log"]} | fields
    return {"alerts": [{key: value for key, value in alert.items() if value is not None}]}


def _primitive(*operations: dict[str, Any]) -> list[dict[str, Any]]:
    """BASE's resources plus resources[4], a primitive with these operations."""
    return [*BASE["resources"], {"name": "p", "type": "primitive", "agent": "ocf:pacemaker:Stateful",
                                 "operations": list(operations)}]  # fmt: skip


RULE: dict[str, Any] = {"score": 50, "expressions": [{"attribute": "#uname", "operation": "eq", "value": "n1"}]}


def _rules(*rules: dict[str, Any]) -> dict[str, Any]:
    """constraints.location[0] choosing its nodes by these rules."""
    return {"resource": "site", "rules": list(rules)}


def _expression(**expression: Any) -> dict[str, Any]:
    """constraints.location[0] with one rule testing this expression."""
    return _rules(RULE | {"expressions": [expression]})


# (case id, mutation path, new value, expected path in the error, expected words)
MUTATIONS = [
    ("unknown-top-key", "nodez", [], "nodez", "did you mean 'nodes'"),
    ("unknown-nested-key", "corosync.tokn", 1, "corosync.tokn", "did you mean 'token'"),
    ("missing-name", "name", DELETE, "name", "required"),
    ("bad-cluster-name", "name", "Bad Name", "name", "wrong form"),
    ("subnet-not-cidr", "networks.0.subnet", "198.18.90.0/33", "networks[0].subnet", ""),
    ("address-not-ip", "nodes.0.addresses.lan", "198.18.90.300", "nodes[0].addresses.lan", "IPv4"),
    ("address-outside-subnet", "nodes.1.addresses.lan", "198.18.95.12", "nodes[1].addresses.lan", "not a host address"),
    ("duplicate-node-name", "nodes.1.name", "n1", "nodes[1].name", "used twice"),
    ("duplicate-address", "nodes.1.addresses.lan", "198.18.90.11", "nodes[1].addresses.lan", "already used"),
    (
        "unknown-network-in-addresses",
        "nodes.0.addresses.wan",
        "198.18.90.50",
        "nodes[0].addresses.wan",
        "unknown network",
    ),
    ("bad-role", "nodes.0.roles", ["master"], "nodes[0].roles[0]", "member"),
    ("vip-outside-subnet", "resources.1.address", "198.19.1.1", "resources[1].address", "outside every network"),
    (
        "group-missing-member",
        "resources.3.members",
        ["fs", "vip", "nope"],
        "resources[3].members[2]",
        "unknown resource",
    ),
    (
        "constraint-missing-resource",
        "constraints.location.0.resource",
        "ghost",
        "constraints.location[0].resource",
        "unknown resource",
    ),
    (
        "constraint-bad-node",
        "constraints.location.0.node",
        "d1",
        "constraints.location[0].node",
        "not a cluster member",
    ),
    ("unknown-resource-type", "resources.2.type", "nginx", "resources[2].type", "unknown resource type"),
    ("resource-without-type", "resources.2", {"name": "web"}, "resources[2]", "no 'type'"),
    ("fencing-missing", "fencing", DELETE, "fencing", "not configured"),
    ("fencing-wrong-word", "fencing", "off", "fencing", "expected"),
    ("two-nodes-no-two-node", "corosync.quorum", {"two_node": False}, "corosync.quorum", "loses quorum"),
    ("link-network-unknown", "corosync.links", ["lan", "ring9"], "corosync.links[1]", "unknown network"),
    ("member-missing-link-address", "nodes.1.addresses", {"lan": "198.18.90.12"}, "nodes[1].addresses", "link 1"),
    ("link-object-unknown-network", "corosync.links", ["lan", {"networks": ["ring9"]}],
     "corosync.links[1].networks[0]", "unknown network"),
    ("link-network-twice", "corosync.links", ["lan", {"networks": ["hb", "lan"]}], "corosync.links[1].networks[1]",
     "listed twice"),
    ("link-both-networks", "corosync.links", [{"networks": ["lan", "hb"]}], "nodes[0].addresses",
     "addresses on lan and hb"),
    ("link-priority-range", "corosync.links", [{"networks": ["lan"], "priority": 256}], "corosync.links[0].priority",
     "255"),
    ("link-transport-word", "corosync.links", [{"networks": ["lan"], "transport": "tcp"}],
     "corosync.links[0].transport", "'sctp'"),
    ("link-transport-off", "corosync.links", [{"networks": ["lan"], "transport": "off"}],
     "corosync.links[0].transport", "'udp'"),
    ("link-mcastport-range", "corosync.links", [{"networks": ["lan"], "mcastport": 0}], "corosync.links[0].mcastport",
     "greater than or equal to 1"),
    ("link-ping-timeout-short", "corosync.links", [{"networks": ["lan"], "ping_interval": 500, "ping_timeout": 500}],
     "corosync.links[0].ping_timeout", "not longer than ping_interval"),
    ("link-options-not-knet", "corosync", {"links": [{"networks": ["lan"], "priority": 1}], "transport": "udpu",
                                           "crypto": {"cipher": "none", "hash": "none"}, "quorum": {"two_node": True}},
     "corosync.links[0]", "knet link options"),
    ("link-unknown-key", "corosync.links", [{"networks": ["lan"], "knet_link_priority": 1}],
     "corosync.links[0].knet_link_priority", "unknown key"),
    ("vrrp-router-id-range", "vrrp.instances.0.router_id", 256, "vrrp.instances[0].router_id", "255"),
    ("vrrp-auth-plaintext", "vrrp.instances.0.auth_pass", "secret", "vrrp.instances[0].auth_pass", "plain-text secret"),
    ("vrrp-vip-outside", "vrrp.instances.0.vips", ["198.18.99.1"], "vrrp.instances[0].vips[0]", "outside"),
    ("lvs-vip-not-vrrp", "lvs.virtual_servers.0.vip", "198.18.90.201", "lvs.virtual_servers[0].vip", "not a VIP"),
    ("drbd-unknown-ref", "resources.0.drbd", "r9", "resources[0].drbd", "unknown DRBD resource"),
    ("drbd-no-disk", "drbd.resources.0.disk", DELETE, "drbd.resources[0].disk", "no backing disk"),
    ("drbd-port-range", "drbd.resources.0.port", 80, "drbd.resources[0].port", "1024"),
    ("drbd-volume-minor-taken", "drbd.resources.0.volumes", [{"disk": "/dev/vdc", "minor": 0}],
     "drbd.resources[0].volumes[0].minor", "minor 0 is used twice"),
    ("drbd-volume-no-disk", "drbd.resources.0.volumes", [{"disks": {"n1": "/dev/vdc"}}],
     "drbd.resources[0].volumes[0].disk", "no backing disk for 'n2'"),
    ("drbd-volume-disk-not-node", "drbd.resources.0.volumes", [{"disk": "/dev/vdc", "disks": {"d1": "/dev/vdd"}}],
     "drbd.resources[0].volumes[0].disks.d1", "not a node of this resource"),
    ("drbd-volume-unknown", "resources.0.drbd_volume", 1, "resources[0].drbd_volume", "has no volume 1"),
    ("drbd-volume-without-drbd", "resources.0", {"name": "fs", "type": "filesystem", "device": "/dev/vdb",
                                                 "directory": "/srv", "drbd_volume": 1},
     "resources[0].drbd_volume", "drbd_volume without drbd"),
    ("drbd-stonith-unfenced", "drbd.resources.0.fencing", "resource-and-stonith", "drbd.resources[0].fencing",
     "no STONITH"),
    ("drbd-fencing-word", "drbd.resources.0.fencing", "stonith", "drbd.resources[0].fencing", "'resource-only'"),
    ("drbd-after-sb-0pri-word", "drbd.resources.0.net_options", {"after_sb_0pri": "discard-secondary"},
     "drbd.resources[0].net_options.after_sb_0pri", "'discard-zero-changes'"),
    ("drbd-after-sb-1pri-word", "drbd.resources.0.net_options", {"after_sb_1pri": "discard-zero-changes"},
     "drbd.resources[0].net_options.after_sb_1pri", "'discard-secondary'"),
    ("drbd-after-sb-2pri-word", "drbd.resources.0.net_options", {"after_sb_2pri": "call-pri-lost-after-sb"},
     "drbd.resources[0].net_options.after_sb_2pri", "'violently-as0p'"),
    ("drbd-after-sb-off", "drbd.resources.0.net_options", {"after_sb_2pri": "off"},
     "drbd.resources[0].net_options.after_sb_2pri", "'disconnect'"),
    ("drbd-max-buffers-range", "drbd.resources.0.net_options", {"max_buffers": 16},
     "drbd.resources[0].net_options.max_buffers", "32"),
    ("drbd-sndbuf-quoted", "drbd.resources.0.net_options", {"sndbuf_size": "0"},
     "drbd.resources[0].net_options.sndbuf_size", "integer"),
    ("drbd-net-unknown", "drbd.resources.0.net_options", {"allow_two_primaries": True},
     "drbd.resources[0].net_options.allow_two_primaries", "unknown key"),
    ("drbd-on-io-error-word", "drbd.resources.0.disk_options", {"on_io_error": "call-local-io-error"},
     "drbd.resources[0].disk_options.on_io_error", "'detach'"),
    ("drbd-al-extents-range", "drbd.resources.0.disk_options", {"al_extents": 7},
     "drbd.resources[0].disk_options.al_extents", "67"),
    ("drbd-c-plan-ahead-range", "drbd.resources.0.disk_options", {"c_plan_ahead": 301},
     "drbd.resources[0].disk_options.c_plan_ahead", "300"),
    ("drbd-c-max-rate-form", "drbd.resources.0.disk_options", {"c_max_rate": "500 MB"},
     "drbd.resources[0].disk_options.c_max_rate", "wrong form"),
    ("drbd-secret-plaintext", "drbd.resources.0.shared_secret", "s3cret", "drbd.resources[0].shared_secret",
     "plain-text secret"),
    ("drbd-hmac-without-secret", "drbd.resources.0.cram_hmac_alg", "sha256", "drbd.resources[0].cram_hmac_alg",
     "without a shared_secret"),
    ("drbd-hmac-word", "drbd.resources.0", {"name": "r0", "disk": "/dev/vdb", "shared_secret": {"env": "S"},
                                            "cram_hmac_alg": "md5"},
     "drbd.resources[0].cram_hmac_alg", "'sha256'"),
    (
        "secret-wrong-shape",
        "pacemaker",
        {"hacluster_password": {"vault": "x"}},
        "pacemaker.hacluster_password",
        "not a secret",
    ),
    ("score-bad", "constraints.location.0.score", "lots", "constraints.location[0].score", ""),
    ("order-self", "constraints.order", [{"first": "vip", "then": "vip"}], "constraints.order[0].then", "itself"),
    (
        "clone-of-group-member",
        "resources",
        BASE["resources"] + [{"name": "c", "type": "clone", "resource": "vip"}],
        "resources[4].resource",
        "inside group",
    ),
    (
        "weighted-script-in-sync-group",
        "vrrp",
        {
            "instances": [
                {"name": "A", "router_id": 1, "network": "lan", "vips": ["198.18.90.200"], "track_scripts": ["chk"]},
                {"name": "B", "router_id": 2, "network": "lan", "vips": ["198.18.90.201"]},
            ],
            "scripts": [{"name": "chk", "script": "/bin/true", "weight": 10}],
            "sync_groups": [{"name": "G", "instances": ["A", "B"]}],
        },
        "vrrp.instances[0].track_scripts[0]",
        "sync group",
    ),
    ("track-interface-unknown-network", "vrrp.instances.0.track_interfaces", [{"network": "wan"}],
     "vrrp.instances[0].track_interfaces[0].network", "use one of: lan, hb"),
    ("track-interface-director-off-network", "vrrp.instances.0.track_interfaces", [{"network": "hb", "weight": -60}],
     "vrrp.instances[0].track_interfaces[0].network", "director 'd1' has no address on 'hb'"),
    ("track-interface-weight-range", "vrrp.instances.0.track_interfaces", [{"network": "lan", "weight": 300}],
     "vrrp.instances[0].track_interfaces[0].weight", "less than or equal to 253"),
    ("track-interface-interface-key", "vrrp.instances.0.track_interfaces", [{"interface": "eth0"}],
     "vrrp.instances[0].track_interfaces[0].interface", ""),
    (
        "weighted-interface-in-sync-group",
        "vrrp",
        {
            "instances": [
                {"name": "A", "router_id": 1, "network": "lan", "vips": ["198.18.90.200"],
                 "track_interfaces": [{"network": "lan", "weight": -50}]},
                {"name": "B", "router_id": 2, "network": "lan", "vips": ["198.18.90.201"]},
            ],
            "sync_groups": [{"name": "G", "instances": ["A", "B"]}],
        },
        "vrrp.instances[0].track_interfaces[0].weight",
        "sync group",
    ),
    ("web-on-realserver", "nodes.4.roles", ["realserver", "web"], "nodes[4].roles", "a realserver runs Apache already"),
    ("web-on-apache-member", "nodes.0.roles", ["member", "web"], "nodes[0].roles",
     "Pacemaker runs Apache on the members"),
    ("role-unknown", "nodes.0.roles", ["member", "webserver"], "nodes[0].roles[1]", "'web'"),
    ("rs-node-and-address", "lvs.virtual_servers.0.real_servers", [{"node": "r1", "address": "198.18.90.40"}],
     "lvs.virtual_servers[0].real_servers[0]", "either node"),
    ("rs-neither", "lvs.virtual_servers.0.real_servers", [{"weight": 2}],
     "lvs.virtual_servers[0].real_servers[0]", "either node"),
    ("rs-not-realserver", "lvs.virtual_servers.0.real_servers", [{"node": "d1"}],
     "lvs.virtual_servers[0].real_servers[0].node", "not a realserver node"),
    ("rs-external-dr-off-network", "lvs.virtual_servers.0.real_servers", [{"address": "198.18.91.40"}],
     "lvs.virtual_servers[0].real_servers[0].address", "DR needs real server '198.18.91.40'"),
    ("rs-twice", "lvs.virtual_servers.0.real_servers", [{"address": "198.18.90.40"}, {"address": "198.18.90.40"}],
     "lvs.virtual_servers[0].real_servers[1]", "listed twice"),
    ("rs-misc-without-script", "lvs.virtual_servers.0.real_servers",
     [{"node": "r1", "health_check": {"type": "MISC_CHECK"}}],
     "lvs.virtual_servers[0].real_servers[0].health_check.script", "needs a script"),
    ("alert-agent-and-path", "pacemaker", _alert({"agent": "file", "path": "/x"}), "pacemaker.alerts[0]",
     "either agent"),
    ("alert-neither", "pacemaker", _alert({"agent": None}), "pacemaker.alerts[0]", "either agent"),
    ("alert-file-relative", "pacemaker", _alert({"recipients": ["alerts.log"]}), "pacemaker.alerts[0].recipients[0]",
     "absolute path"),
    ("alert-agent-word", "pacemaker", _alert({"agent": "pager"}), "pacemaker.alerts[0].agent", "'file'"),
    ("alert-kind-word", "pacemaker", _alert({"kinds": ["node"]}), "pacemaker.alerts[0].kinds[0]", "'nodes'"),
    ("alert-no-recipient", "pacemaker", _alert({"recipients": []}), "pacemaker.alerts[0].recipients", "at least 1"),
    ("alert-twice", "pacemaker", {"alerts": _alert({})["alerts"] * 2}, "pacemaker.alerts[1].name", "defined twice"),
    ("vs-tun-with-nodes", "lvs.virtual_servers.0.method", "TUN", "lvs.virtual_servers[0].method", "IP-in-IP"),
    ("vs-urls-on-tcp", "lvs.virtual_servers.0.health_check", {"type": "TCP_CHECK", "urls": [{"path": "/a"}]},
     "lvs.virtual_servers[0].health_check.urls", "asks no URL"),
    ("rs-url-status-range", "lvs.virtual_servers.0.real_servers",
     [{"node": "r1", "health_check": {"urls": [{"path": "/a", "status": 999}]}}],
     "lvs.virtual_servers[0].real_servers[0].health_check.urls[0].status", "less than or equal to 599"),
    ("ip-netmask-range", "resources.1.cidr_netmask", 33, "resources[1].cidr_netmask", "less than or equal to 32"),
    ("ip-netmask-quoted", "resources.1.cidr_netmask", "24", "resources[1].cidr_netmask", "integer"),
    ("ip-nic-command", "resources.1.nic", "eth0;reboot", "resources[1].nic", "wrong form"),
    ("ip-nic-too-long", "resources.1.nic", "a" * 16, "resources[1].nic", "wrong form"),
    ("ip-nic-option", "resources.1.nic", "-eth0", "resources[1].nic", "wrong form"),
    ("interface-dotdot", "networks.0.interface", "..", "networks[0].interface", "wrong form"),
    ("op-name-unsafe", "resources", _primitive({"name": "mon itor"}), "resources[4].operations[0].name", "wrong form"),
    ("op-on-fail-word", "resources", _primitive({"name": "stop", "on_fail": "reboot"}),
     "resources[4].operations[0].on_fail", "'ignore'"),
    ("op-fence-unfenced", "resources", _primitive({"name": "stop", "on_fail": "fence"}),
     "resources[4].operations[0].on_fail", "needs fencing"),
    ("op-demote-on-start", "resources", _primitive({"name": "start", "on_fail": "demote"}),
     "resources[4].operations[0].on_fail", "demote applies"),
    ("op-demote-unpromoted", "resources", _primitive({"name": "monitor", "interval": "5s", "on_fail": "demote"}),
     "resources[4].operations[0].on_fail", "demote applies"),
    ("op-same-interval", "resources",
     _primitive({"name": "monitor", "interval": "10s"}, {"name": "monitor", "interval": "10000ms", "role": "Promoted"}),
     "resources[4].operations[1].interval", "already defined"),
    ("location-no-node-no-rules", "constraints.location.0.node", DELETE, "constraints.location[0]", "exactly one"),
    ("location-node-and-rules", "constraints.location.0.rules", [RULE], "constraints.location[0]", "exactly one"),
    ("location-rules-and-score", "constraints.location.0", {"resource": "site", "rules": [RULE], "score": 5},
     "constraints.location[0].score", "own score"),
    ("rule-without-score", "constraints.location.0", _rules({"expressions": RULE["expressions"]}),
     "constraints.location[0].rules[0]", "exactly one of 'score' or 'score_attribute'"),
    ("rule-eq-without-value", "constraints.location.0", _expression(attribute="a", operation="eq"),
     "constraints.location[0].rules[0].expressions[0].value", "compares"),
    ("rule-defined-with-value", "constraints.location.0",
     _expression(attribute="a", operation="defined", value="x"),
     "constraints.location[0].rules[0].expressions[0].value", "takes no value"),
    ("rule-integer-not-integer", "constraints.location.0",
     _expression(attribute="a", operation="gt", value="1.5", type="integer"),
     "constraints.location[0].rules[0].expressions[0].value", "not of type integer"),
    ("rule-operation-unknown", "constraints.location.0",
     _expression(attribute="a", operation="like", value="x"),
     "constraints.location[0].rules[0].expressions[0].operation", "'lt'"),
    ("rule-attribute-unsafe", "constraints.location.0",
     _expression(attribute="a b", operation="defined"),
     "constraints.location[0].rules[0].expressions[0].attribute", "wrong form"),
    ("rule-boolean-op-word", "constraints.location.0", _rules(RULE | {"boolean_op": "xor"}),
     "constraints.location[0].rules[0].boolean_op", "'and'"),
    ("set-unknown-resource", "constraints.colocation", [{"sets": [{"resources": ["vip", "ghost"]}]}],
     "constraints.colocation[0].sets[0].resources[1]", "unknown resource"),
    ("set-and-pair", "constraints.colocation", [{"resource": "vip", "sets": [{"resources": ["vip", "web"]}]}],
     "constraints.colocation[0].resource", "not for sets"),
    ("set-and-action-pair", "constraints.order", [{"first_action": "stop", "sets": [{"resources": ["vip", "web"]}]}],
     "constraints.order[0].first_action", "not for sets"),
    ("no-pair-no-sets", "constraints.colocation", [{"resource": "vip"}], "constraints.colocation[0]", "or list sets"),
    ("colocation-set-action", "constraints.colocation", [{"sets": [{"resources": ["vip", "web"], "action": "start"}]}],
     "constraints.colocation[0].sets[0].action", "takes no action"),
    ("order-set-role", "constraints.order", [{"sets": [{"resources": ["vip", "web"], "role": "Started"}]}],
     "constraints.order[0].sets[0].role", "takes no role"),
    ("set-resource-twice", "constraints.order", [{"sets": [{"resources": ["vip"]}, {"resources": ["vip"]}]}],
     "constraints.order[0].sets[1].resources[0]", "already in a set"),
    ("set-binds-nothing", "constraints.colocation", [{"sets": [{"resources": ["vip", "web"], "sequential": False}]}],
     "constraints.colocation[0].sets", "binds its members only"),
    ("set-role-not-promotable", "constraints.colocation",
     [{"sets": [{"resources": ["vip"]}, {"resources": ["site"], "role": "Promoted"}]}],
     "constraints.colocation[0].sets[1].role", "promotable"),
    ("set-empty", "constraints.order", [{"sets": [{"resources": []}]}], "constraints.order[0].sets[0].resources",
     "at least 1"),
    ("node-utilization-negative", "nodes.0.utilization", {"cpu": -1}, "nodes[0].utilization.cpu", "greater than"),
    ("node-utilization-quoted", "nodes.0.utilization", {"cpu": "4"}, "nodes[0].utilization.cpu", "integer"),
    ("node-attribute-name", "nodes.0.attributes", {"a b": "x"}, "nodes[0].attributes.a b", "wrong form"),
    ("node-attribute-newline", "nodes.0.attributes", {"rack": "a\nb"}, "nodes[0].attributes.rack", "one line"),
    ("node-attributes-not-member", "nodes.2.attributes", {"rack": "a"}, "nodes[2].attributes", "only cluster members"),
    ("placement-strategy-word", "pacemaker", {"placement_strategy": "spread"}, "pacemaker.placement_strategy",
     "'balanced'"),
    ("placement-strategy-twice", "pacemaker",
     {"placement_strategy": "balanced", "properties": {"placement-strategy": "balanced"}},
     "pacemaker.properties.placement-strategy", "set twice"),
    ("group-utilization", "resources.3.utilization", {"cpu": 1}, "resources[3].utilization", "unknown key"),
    ("qdevice-not-arbitrator", "corosync.qdevice", {"host": "n1"}, "corosync.qdevice.host", "arbitrator"),
    ("timing-word", "corosync.timing", "quick", "corosync.timing", "'fast'"),
    ("vrrp-timing-word", "vrrp.timing", "lan", "vrrp.timing", "'wan'"),
    ("consensus-below-wan-token", "corosync", {"links": ["lan", "hb"], "quorum": {"two_node": True}, "timing": "wan",
                                               "consensus": 5000},
     "corosync.consensus", "use >= 12000"),
    ("service-unknown-node", "services", [_service(nodes=["n9"])], "services[0].nodes[0]", "unknown node 'n9'"),
    ("service-twice", "services", [_service(), _service()], "services[1].name", "defined twice"),
    ("service-file-content-and-secret", "services", [_service(files=[{"path": "/etc/a", "content": "x\n",
                                                                      "secret": {"env": "HALAB_T_A"}}])],
     "services[0].files[0]", "either content"),
    ("service-file-neither", "services", [_service(files=[{"path": "/etc/a"}])], "services[0].files[0]",
     "either content"),
    ("service-secret-world-readable", "services",
     [_service(files=[{"path": "/etc/a", "secret": {"env": "HALAB_T_A"}, "mode": "0644"}])],
     "services[0].files[0].mode", "every user read a secret"),
    ("service-file-relative", "services", [_service(files=[{"path": "etc/a", "content": ""}])],
     "services[0].files[0].path", "absolute"),
    ("service-file-twice", "services", [_service(files=[{"path": "/etc/a", "content": ""}] * 2)],
     "services[0].files[1].path", "listed twice"),
    ("service-file-two-services", "services",
     [_service(files=[{"path": "/etc/a", "content": ""}]),
      _service(name="other", nodes=["n2"], files=[{"path": "/etc/a", "content": ""}])],
     "services[1].files[0].path", "written by service 'redis' too"),
    ("service-mode-number", "services", [_service(files=[{"path": "/etc/a", "content": "", "mode": 420}])],
     "services[0].files[0].mode", "string"),
    ("service-package-option", "services", [_service(packages=["-oDebug::pkgProblemResolver=1"])],
     "services[0].packages[0]", "wrong form"),
    ("service-unit-option", "services", [_service(units=["--now"])], "services[0].units[0]", "wrong form"),
    ("service-unknown-key", "services", [_service(template="/tmp/x.j2")], "services[0].template", "unknown key"),
    ("vrrp-v3-auth", "vrrp", {"timing": "fast", "instances": [{"name": "VI_1", "router_id": 51, "network": "lan",
                                                                "vips": ["198.18.90.200"],
                                                                "auth_pass": {"env": "HALAB_T_PASS"}}]},
     "vrrp.instances[0].auth_pass", "needs VRRPv3, which has no authentication"),
]


@pytest.mark.parametrize(("case", "path", "value", "where", "words"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_each_bad_input_is_reported_with_its_path(halab, tmp_path: Path, case, path, value, where, words) -> None:
    bad = tmp_path / f"{case}.yml"
    bad.write_text(yaml.safe_dump(_set(BASE, path, value)))
    code, out, err = halab("validate", bad)
    assert code == 2, err
    assert "Traceback" not in err + out
    assert f"{where}:" in err, err
    assert words in err, err
    assert "hint:" in err


def test_base_document_is_valid(tmp_path: Path) -> None:
    good = tmp_path / "good.yml"
    good.write_text(yaml.safe_dump(BASE))
    assert load_cluster(good).name == "t"


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])
def test_examples_are_valid(halab, example: Path) -> None:
    code, out, err = halab("validate", example)
    assert code == 0, err
    assert out.startswith("valid: cluster")


RAW_CASES = [
    ("yaml-syntax", "name: t\nnetworks: [\n", ":3:1:", "YAML syntax"),
    ("duplicate-key", "name: t\nname: u\n", ":2:1:", "duplicate key 'name'"),
    ("not-a-mapping", "- a\n- b\n", ":1:1:", "must be a YAML mapping"),
    ("empty-file", "", ":1:1:", "must be a YAML mapping"),
    ("binary", "\x00\x01", "", "YAML"),
]


@pytest.mark.parametrize(("case", "text", "position", "words"), RAW_CASES, ids=[c[0] for c in RAW_CASES])
def test_malformed_yaml_reports_line_and_column(halab, tmp_path: Path, case, text, position, words) -> None:
    bad = tmp_path / f"{case}.yml"
    bad.write_text(text)
    code, _, err = halab("validate", bad)
    assert code == 2
    assert words in err and position in err, err
    assert "Traceback" not in err


def test_all_problems_are_reported_together(tmp_path: Path) -> None:
    doc = _set(_set(BASE, "nodes.1.addresses.lan", "198.18.95.12"), "resources.1.address", "198.19.1.1")
    bad = tmp_path / "two.yml"
    bad.write_text(yaml.safe_dump(doc))
    with pytest.raises(InvalidInput) as caught:
        load_cluster(bad)
    paths = {p.path for p in caught.value.problems}
    assert {"nodes[1].addresses.lan", "resources[1].address"} <= paths


def test_unreadable_file_is_invalid_input(halab, tmp_path: Path) -> None:
    code, _, err = halab("validate", tmp_path / "missing.yml")
    assert code == 2 and "cannot read the file" in err


def test_vault_and_env_secrets_are_accepted(tmp_path: Path) -> None:
    text = (Path(__file__).parents[1] / "examples" / "lvs-dr.yml").read_text()
    path = tmp_path / "vault.yml"
    path.write_text(text.replace("auth_pass: {env: HALAB_VRRP_PASS}", "auth_pass: " + VAULTED))
    cluster = load_cluster(path)
    assert cluster.vrrp is not None
    assert type(cluster.vrrp.instances[0].auth_pass).__name__ == "VaultValue"


def test_junk_vault_ciphertext_is_refused(tmp_path: Path) -> None:
    text = (Path(__file__).parents[1] / "examples" / "lvs-dr.yml").read_text()
    path = tmp_path / "vault.yml"
    junk = "auth_pass: !vault |\n          $ANSIBLE_VAULT;1.1;AES256\n          6162"
    path.write_text(text.replace("auth_pass: {env: HALAB_VRRP_PASS}", junk))
    with pytest.raises(InvalidInput) as caught:
        load_cluster(path)
    [problem] = caught.value.problems
    assert problem.path == "vrrp.instances[0].auth_pass" and "!vault value" in problem.message


def test_schema_command_prints_json_schema(halab) -> None:
    import json

    code, out, _ = halab("schema")
    schema = json.loads(out)
    assert code == 0 and schema["title"] == "halab cluster file"
    assert "nodes" in schema["properties"]


def _with(path: Path, text: str, old: str, new: str) -> Path:
    """A copy of an example with one piece of text replaced (the YAML as a person writes it)."""
    assert old in text, old
    path.write_text(text.replace(old, new))
    return path


@pytest.mark.parametrize("word", ["on", "off", "yes", "no"])
def test_yaml_words_are_strings_in_enums(tmp_path: Path, word: str) -> None:
    """YAML 1.2: `tls: on` is the word on (YAML 1.1 would make it a boolean and fail the enum)."""
    text = (Path(__file__).parents[1] / "examples" / "arbiter.yml").read_text()
    path = _with(tmp_path / "c.yml", text, "  qdevice:\n", f"  qdevice:\n    tls: {word}\n")
    if word in ("on", "off"):
        qdevice = load_cluster(path).corosync.qdevice
        assert qdevice is not None and qdevice.tls == word
    else:  # a string, so the enum says which words it takes (not "write true or false")
        with pytest.raises(InvalidInput) as caught:
            load_cluster(path)
        [problem] = caught.value.problems
        assert problem.path == "corosync.qdevice.tls" and "'on'" in problem.message


@pytest.mark.parametrize("word", ["on", "off", "yes", "no"])
@pytest.mark.parametrize(("example", "old", "new", "where", "choices"), [
    ("routed-two-rooms", "mcastport: 5420,", "mcastport: 5420, transport: {word},", "corosync.links[1].transport",
     "'udp' or 'sctp'"),
    ("drbd9-three-node", "on_io_error: detach", "on_io_error: {word}", "drbd.resources[0].disk_options.on_io_error",
     "'detach' or 'pass_on'"),
    ("drbd9-three-node", "after_sb_2pri: disconnect", "after_sb_2pri: {word}",
     "drbd.resources[0].net_options.after_sb_2pri", "'disconnect' or 'violently-as0p'"),
])  # fmt: skip
def test_yaml_words_in_new_enums_name_the_choices(tmp_path: Path, word: str, example: str, old: str, new: str,
                                                  where: str, choices: str) -> None:
    """Written unquoted, `off` stays the word off (YAML 1.2): the error lists the enum's words."""
    text = (Path(__file__).parents[1] / "examples" / f"{example}.yml").read_text()
    with pytest.raises(InvalidInput) as caught:
        load_cluster(_with(tmp_path / "c.yml", text, old, new.format(word=word)))
    [problem] = caught.value.problems
    assert problem.path == where and choices in problem.message, problem


def test_yaml_words_are_not_booleans(tmp_path: Path) -> None:
    text = (Path(__file__).parents[1] / "examples" / "minimal.yml").read_text()
    path = _with(tmp_path / "c.yml", text, "name: mini\n", "name: mini\nallow_plaintext_secrets: yes\n")
    with pytest.raises(InvalidInput) as caught:
        load_cluster(path)
    [problem] = caught.value.problems
    assert problem.path == "allow_plaintext_secrets" and "yes/no/on/off are strings" in problem.hint


ROUTED = Path(__file__).parents[1] / "examples" / "routed-two-rooms.yml"


def test_a_flat_cluster_wants_every_member_on_a_floating_ips_network(halab, tmp_path: Path) -> None:
    """Without a routed link a member missing the network is a mistake, not a room."""
    doc = _set(_set(BASE, "corosync.links", ["lan"]), "nodes.1.addresses", {"lan": "198.18.90.12"})
    path = tmp_path / "c.yml"
    path.write_text(yaml.safe_dump(_set(doc, "resources.1.address", "198.18.91.100")))
    code, _, err = halab("validate", path)
    assert code == 2 and "resources[1].address: not every member has an address on 'hb'" in err, err
    assert "routed cluster" in err


@pytest.mark.parametrize(("old", "new", "where", "words"), [
    ("members: [vip-a, web-server]}", "members: [vip-a, web-server, vip-b]}", "resources[0].address",
     "no member has an address on the network of every floating IP of 'site-a'"),
    ("{resource: site-a, node: a1, score: 300}", "{resource: site-a, node: b1, score: 300}",
     "constraints.location[0].node", "prefer one of: a1, a2"),
    ("{name: b2, addresses: {lan-b: 198.18.60.12, hb-b: 198.18.61.12}}", "{name: b2, addresses: {hb-b: 198.18.61.12}}",
     "nodes[3].addresses", "no address on the primary network 'lan-a' or 'lan-b'"),
])  # fmt: skip
def test_a_routed_cluster_keeps_floating_ips_on_their_subnet(halab, tmp_path: Path, old: str, new: str, where: str,
                                                             words: str) -> None:
    code, _, err = halab("validate", _with(tmp_path / "c.yml", ROUTED.read_text(), old, new))
    assert code == 2 and f"{where}:" in err and words in err and "hint:" in err, err


@pytest.mark.parametrize(("score", "warned"), [(300, True), (301, False), ("INFINITY", False)])
def test_failback_warning_does_not_fail_validation(halab, tmp_path: Path, score: Any, warned: bool) -> None:
    """BASE's group has three members of stickiness 100: node n1 needs a score above 300 to win
    it back (crm_simulate agrees: tests/test_placement.py)."""
    path = tmp_path / "c.yml"
    path.write_text(yaml.safe_dump(_set(BASE, "constraints.location.0.score", score)))
    code, out, err = halab("validate", path)
    assert code == 0 and out.startswith("valid: cluster"), err
    assert ("warning: " in err) is warned, err
    if warned:
        assert "constraints.location[0].score: 'site' does not fail back to n1" in err, err
        assert "(location 0 + stickiness 100 + 100 + 100)" in err and "above 300" in err


LVS_CI = Path(__file__).parents[1] / "examples" / "lvs-dr-ci.yml"


@pytest.mark.parametrize(("old", "new", "where", "words"), [
    ("via: 198.18.24.254", "via: 198.18.24.253", "lvs.nat_gateway.via", "198.18.24.253 is not a VIP of any vrrp"),
    ("via: 198.18.24.254", "via: 198.18.23.100", "lvs.nat_gateway.via",
     "198.18.23.100 is on network 'ext', where NAT real server(s) rs1, rs2 have no address"),
    ("{name: rs2, roles: [realserver], addresses: {lan: 198.18.22.22, int: 198.18.24.22}}",
     "{name: rs2, roles: [realserver], addresses: {lan: 198.18.22.22}}", "lvs.nat_gateway.via",
     "where NAT real server(s) rs2 have no address"),
    ("      method: NAT\n", "      method: DR\n", "lvs.nat_gateway.via", "no virtual server uses NAT"),
    ("to: [198.18.23.0/24]", "to: [198.18.23.0/33]", "lvs.nat_gateway.to[0]", ""),
    ("to: [198.18.23.0/24]", "to: []", "lvs.nat_gateway.to", ""),
    ("to: [198.18.23.0/24]", "to: [198.18.23.0/24, 198.18.24.128/25]", "lvs.nat_gateway.to[1]",
     "198.18.24.128/25 is on network 'int', which the NAT real servers reach directly"),
])  # fmt: skip
def test_nat_gateway_must_be_a_vip_on_the_real_servers_network(halab, tmp_path: Path, monkeypatch, old: str, new: str,
                                                               where: str, words: str) -> None:
    monkeypatch.setenv("HALAB_VRRP_PASS", "lab-vrrp")
    code, _, err = halab("validate", _with(tmp_path / "c.yml", LVS_CI.read_text(), old, new))
    assert code == 2 and f"{where}:" in err and words in err and "hint:" in err, err
    assert "Traceback" not in err


def test_nat_without_a_gateway_is_valid_but_warned(halab, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HALAB_VRRP_PASS", "lab-vrrp")
    text = LVS_CI.read_text()
    gateway = text[text.index("  nat_gateway:"):text.index("lab:")]
    code, out, err = halab("validate", _with(tmp_path / "c.yml", text, gateway, ""))
    assert code == 0 and out.startswith("valid: cluster"), err
    assert "warning: " in err and "lvs.nat_gateway: NAT real server(s) rs1, rs2 get no return route" in err, err

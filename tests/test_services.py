"""What each floating IP fronts, and the probe halab derives for it (halab.services)."""

from __future__ import annotations

from typing import Any

from halab.services import probes
from halab.validation import validate_document

from .conftest import ROOT
from .test_fencing import WEB

BASE: dict[str, Any] = {
    "name": "svc",
    "networks": [{"name": "lan", "subnet": "198.18.80.0/24"}],
    "nodes": [{"name": f"n{i}", "addresses": {"lan": f"198.18.80.{10 + i}"}} for i in range(1, 4)],
    "fencing": "disabled",
}


def _probes(resources: list, colocation: list | None = None, **extra: Any) -> dict[str, tuple]:
    doc = {**BASE, "resources": resources, "constraints": {"colocation": colocation or []}, **extra}
    cluster = validate_document(doc, {}, "t.yml")
    return {p.vip: (p.service, p.kind, p.port, p.path) for p in probes(cluster)}


def ip(name: str, last: int) -> dict:
    return {"name": name, "type": "ip", "address": f"198.18.80.{last}"}


def dummy(name: str, check: dict | None = None) -> dict:
    return {"name": name, "type": "primitive", "agent": "ocf:heartbeat:Dummy", **({"check": check} if check else {})}


def test_group_members_are_what_an_ip_fronts() -> None:
    found = _probes([ip("vip", 100), {"name": "web", "type": "apache"},
                     {"name": "site", "type": "group", "members": ["vip", "web"]}])  # fmt: skip
    assert found["vip"] == ("web", "http", 80, "/")


def test_colocations_count_in_both_directions_and_negative_ones_do_not() -> None:
    resources = [ip("vip-a", 101), ip("vip-b", 102), ip("vip-c", 103), dummy("db", {"type": "tcp", "port": 5432}),
                 dummy("cache", {"type": "http", "port": 8080, "path": "/ping", "status": 204})]  # fmt: skip
    colocation = [{"resource": "vip-a", "with": "db"}, {"resource": "cache", "with": "vip-b", "score": 100},
                  {"resource": "vip-c", "with": "db", "score": "-INFINITY"}]  # fmt: skip
    found = _probes(resources, colocation)
    assert found["vip-a"] == ("db", "tcp", 5432, "/")
    assert found["vip-b"] == ("cache", "http", 8080, "/ping")
    assert found["vip-c"] == ("nothing", "address", None, "/")


def test_colocation_sets_bind_along_and_between_sets() -> None:
    resources = [ip("vip-a", 101), ip("vip-b", 102), dummy("db", {"type": "tcp", "port": 5432}), dummy("marker")]
    colocation = [{"sets": [{"resources": ["db", "vip-a"]}]},
                  {"sets": [{"resources": ["vip-b"]}, {"resources": ["marker"]}]}]  # fmt: skip
    found = _probes(resources, colocation)
    assert found["vip-a"] == ("db", "tcp", 5432, "/")
    assert found["vip-b"] == ("marker", "address", None, "/")


def test_a_clone_is_followed_to_what_it_clones() -> None:
    resources = [ip("vip", 100), {"name": "web", "type": "apache"},
                 {"name": "web-clone", "type": "clone", "resource": "web"}]  # fmt: skip
    assert _probes(resources, [{"resource": "vip", "with": "web-clone"}])["vip"] == ("web", "http", 80, "/")


def test_a_bare_ip_or_a_dummy_is_checked_as_an_address() -> None:
    found = _probes([ip("vip", 100), dummy("marker"), {"name": "g", "type": "group", "members": ["vip", "marker"]}])
    assert found["vip"] == ("marker", "address", None, "/")


def test_lvs_services_are_probed_by_their_health_check() -> None:
    from halab.validation import load_cluster

    cluster = load_cluster(ROOT / "examples" / "lvs-dr.yml")
    found = {(p.vip, p.address): (p.service, p.kind, p.path) for p in probes(cluster)}
    assert found[("VI_WEB", "198.18.20.100")] == ("web", "http", "/healthz")


def test_the_web_example_fronts_apache() -> None:
    cluster = validate_document(WEB, {}, "web.yml")
    assert [(p.vip, p.kind) for p in probes(cluster)] == [("web-vip", "http")]

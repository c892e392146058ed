"""Render every configuration file the roles would install, from the roles' own templates.

The context of each template is what Ansible would give it: the host's merged inventory
variables plus `inventory_hostname`, `groups` and `hostvars`. Secrets are replaced by a
placeholder, so `halab render` never writes one to disk.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from .inventory import Inventory
from .output import OutputDir
from .paths import roles_dir
from .secrets import PlainSecret, SecretRef
from .yamlsource import VaultValue

SECRET_PLACEHOLDER = "REDACTED"
CIB_FILE = "cluster/cib.xml"


@dataclass(frozen=True)
class Template:
    """One role template: which hosts get it and where it lands on them."""

    role: str
    name: str
    dest: str
    group: str
    loop_var: str | None = None
    loop_over: str | None = None
    when: str | None = None  # the role's condition for this file: a Jinja expression over the host's variables


# roles/lvs_realserver writes its ARP and loopback files only for direct-routing services.
DIRECT_ROUTING = "lvs_realserver_vips | selectattr('method', 'eq', 'DR') | list | length > 0"
TEMPLATES: tuple[Template, ...] = (
    Template("corosync", "corosync.conf.j2", "/etc/corosync/corosync.conf", "cluster_members"),
    Template(
        "drbd",
        "drbd.res.j2",
        "/etc/drbd.d/{name}.res",
        "drbd_nodes",
        loop_var="drbd_resource",
        loop_over="drbd_resources",
    ),
    Template("keepalived", "keepalived.conf.j2", "/etc/keepalived/keepalived.conf", "lvs_directors"),
    Template("apache", "ports.conf.j2", "/etc/apache2/ports.conf", "apache_servers"),
    Template("apache", "halab-site.conf.j2", "/etc/apache2/sites-available/halab.conf", "apache_servers"),
    Template("apache", "halab-status.conf.j2", "/etc/apache2/conf-available/halab-status.conf", "apache_servers"),
    Template(
        "apache",
        "index.html.j2",
        "{apache_document_root}/index.html",
        "apache_servers",
        when="not (apache_document_root_shared | default(false) | bool)",  # else it lives on the shared filesystem
    ),
    Template(
        "lvs_realserver",
        "halab-lvs-realserver.conf.j2",
        "/etc/sysctl.d/90-halab-lvs-realserver.conf",
        "lvs_realservers",
        when=DIRECT_ROUTING,
    ),
    Template(
        "lvs_realserver",
        "halab-lvs-vip.service.j2",
        "/etc/systemd/system/halab-lvs-vip.service",
        "lvs_realservers",
        when=DIRECT_ROUTING,
    ),
    Template(
        "lvs_realserver",
        "halab-lvs-nat-routes.service.j2",
        "/etc/systemd/system/halab-lvs-nat-routes.service",
        "lvs_realservers",
        when="lvs_realserver_nat_routes | default([]) | length > 0",
    ),
    Template(
        "services", "file.j2", "{path}", "service_hosts", loop_var="services_file", loop_over="services_files"
    ),
)
CIB_TEMPLATE = Template("pacemaker", "cib.xml.j2", CIB_FILE, "cluster_members")


def _bool(value: Any) -> bool:
    """Ansible's `bool` filter."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("yes", "on", "1", "true", "y", "t")


def _combine(*maps: dict[str, Any]) -> dict[str, Any]:
    """Ansible's `combine` filter (non-recursive): later maps win key by key."""
    merged: dict[str, Any] = {}
    for each in maps:
        merged |= each
    return merged


@functools.cache
def make_environment() -> jinja2.Environment:
    """A Jinja2 environment that finds `<role>/templates/<name>` and behaves like Ansible's."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(roles_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        autoescape=False,
    )
    env.filters["bool"] = _bool
    env.filters["combine"] = _combine
    return env


def _redact(value: Any) -> Any:
    if isinstance(value, SecretRef | VaultValue | PlainSecret):
        return SECRET_PLACEHOLDER
    if isinstance(value, dict):
        return {key: _redact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact(item) for item in value]
    return value


def all_hostvars(inventory: Inventory) -> dict[str, dict[str, Any]]:
    """Every host's merged variables, secrets redacted (what `hostvars` is in a template)."""
    hosts = sorted({h for members in inventory.groups.values() for h in members} | set(inventory.host_vars))
    redacted = Inventory(
        inventory.groups,
        {group: _redact(data) for group, data in inventory.group_vars.items()},
        {host: _redact(data) for host, data in inventory.host_vars.items()},
    )
    return {h: redacted.hostvars(h) for h in hosts}


def host_context(inventory: Inventory, host: str, hostvars: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """What a template sees on `host` (pass `all_hostvars` once when rendering many hosts)."""
    hostvars = hostvars if hostvars is not None else all_hostvars(inventory)
    groups = {"all": list(hostvars), "ungrouped": [], **inventory.groups}
    return {
        **hostvars[host],
        "inventory_hostname": host,
        "inventory_hostname_short": host,
        "groups": groups,
        "hostvars": hostvars,
    }


@dataclass(frozen=True)
class RenderedFile:
    host: str | None
    dest: str
    content: str


def applies(template: Template, variables: dict[str, Any]) -> bool:
    """Whether the role installs `template` on a host with these variables (its `when`)."""
    return not template.when or bool(make_environment().compile_expression(template.when)(**variables))


def _render_one(env: jinja2.Environment, template: Template, context: dict[str, Any]) -> Iterator[RenderedFile]:
    if not applies(template, context):
        return
    source = env.get_template(f"{template.role}/templates/{template.name}")
    items = context.get(template.loop_over, []) if template.loop_over else [None]
    for item in items:
        local = dict(context)
        if template.loop_var:
            local[template.loop_var] = item
        dest = template.dest.format(
            **(item if isinstance(item, dict) else {}), **{k: v for k, v in context.items() if isinstance(v, str)}
        )
        yield RenderedFile(context["inventory_hostname"], dest, source.render(local))


def render_all(inventory: Inventory) -> list[RenderedFile]:
    """Every file for every host, plus the cluster-wide CIB (host None)."""
    env = make_environment()
    hostvars = all_hostvars(inventory)
    files: list[RenderedFile] = []
    for template in TEMPLATES:
        for host in inventory.groups.get(template.group, []):
            files += _render_one(env, template, host_context(inventory, host, hostvars))
    members = inventory.groups.get("cluster_members", [])
    if members:
        cib = env.get_template(f"{CIB_TEMPLATE.role}/templates/{CIB_TEMPLATE.name}")
        files.append(RenderedFile(None, CIB_FILE, cib.render(host_context(inventory, members[0], hostvars))))
    return files


def installed_files(inventory: Inventory) -> dict[str, list[RenderedFile]]:
    """Host -> the files the roles install there, as rendered (the CIB, cluster-wide and
    kept by Pacemaker, is not a file of any host)."""
    found: dict[str, list[RenderedFile]] = {}
    for item in render_all(inventory):
        if item.host is not None:
            found.setdefault(item.host, []).append(item)
    return found


def write_rendered(files: list[RenderedFile], out: Path) -> list[Path]:
    """Lay files out as OUT/<host>/<absolute path> and OUT/cluster/cib.xml, inside OUT only."""
    target = OutputDir(out)
    return [
        target.write(item.dest if item.host is None else f"{item.host}/{item.dest.lstrip('/')}", item.content)
        for item in files
    ]

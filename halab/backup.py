"""`halab backup`: what the nodes run, as installed, in one archive (or directory) with a
manifest - the CIB, the files halab's roles install (the list `halab render` makes), the
HA stack's package versions and `crm_mon`'s view - secrets left out unless asked for.

Python over `Hosts` (read-only SSH, in parallel as `halab status` does) rather than a
playbook with `fetch`: fetch would write every secret-bearing file to this disk before it
could be redacted, while here the redaction happens in memory and only the archive is
written, once, with its final mode; the refusals and exit codes stay halab's.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shlex
import tarfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import click

from . import __version__
from .errors import InvalidInput, OperationFailed, Problem
from .model import Cluster
from .output import OutputDir, checked_relative
from .remote import Hosts, Result
from .render import CIB_FILE, SECRET_PLACEHOLDER, RenderedFile, installed_files, render_all
from .rolevars import role_defaults
from .runner import inventory_of

CIB_QUERY = "cibadmin --query"
CRM_MON = "crm_mon -1 --output-as=xml"
MISSING = 3  # the exit code of FILE_READ when the file is not there
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")
# A fence device's secret parameter that the cluster file did not set (added by hand).
SECRET_NAME = re.compile(r"passw|secret", re.I)


def _file_read(path: str) -> str:
    return f"test -e {shlex.quote(path)} || exit {MISSING}; cat -- {shlex.quote(path)}"


def _packages_query() -> str:
    """dpkg-query over the HA stack (the packages `halab upgrade` upgrades) and every fence
    agent package (Debian 13 has one per agent)."""
    names = [*role_defaults("cluster_upgrade")["cluster_upgrade_packages"], "fence-agents*"]
    query = ["dpkg-query", "--show", "--showformat=${Package}\t${Version}\t${db:Status-Abbrev}\n", *names]
    return shlex.join(query) + " 2>/dev/null; true"


@dataclass
class Collected:
    """The archive's content (relative path -> bytes) and the manifest's per-node record."""

    entries: dict[str, bytes] = field(default_factory=dict)
    nodes: dict[str, dict] = field(default_factory=dict)

    def add(self, node: str, name: str, text: str, source: str, redacted: bool) -> None:
        data = text.encode("utf-8")
        path = str(checked_relative(f"{node}/{name.lstrip('/')}"))  # also inside a tar: never `..`
        self.entries[path] = data
        record = self.node(node)
        record["files"][path] = {"source": source, "sha256": hashlib.sha256(data).hexdigest(), "redacted": redacted}

    def node(self, node: str) -> dict:
        return self.nodes.setdefault(node, {"files": {}, "missing": [], "errors": []})


def secret_line_patterns(rendered: str) -> list[re.Pattern[str]] | None:
    """For each line of a rendered file that holds a secret (redacted by `halab render`), a
    pattern that finds that line in the installed file and captures the secret; None when
    a secret line has no text of its own around the secret (the file is then left out)."""
    patterns = []
    for line in rendered.splitlines():
        text = line.strip()
        if SECRET_PLACEHOLDER not in text:
            continue
        literal = [re.escape(part) for part in text.split(SECRET_PLACEHOLDER)]
        if not "".join(part for part in text.split(SECRET_PLACEHOLDER)).strip():
            return None
        patterns.append(re.compile(r"^(\s*)" + "(.+?)".join(literal) + r"(\s*)$"))
    return patterns


def redact_file(installed: str, patterns: list[re.Pattern[str]]) -> str:
    """`installed` with every secret that `patterns` capture replaced by the placeholder."""
    out = []
    for line in installed.splitlines(keepends=True):
        body, newline = (line[:-1], "\n") if line.endswith("\n") else (line, "")
        for pattern in patterns:
            match = pattern.match(body)
            if match:
                spans = [match.span(group) for group in range(2, pattern.groups)]  # between the two \s* groups
                for start, end in reversed(spans):
                    body = body[:start] + SECRET_PLACEHOLDER + body[end:]
                break
        out.append(body + newline)
    return "".join(out)


def cib_secret_names(rendered_cib: str) -> set[str]:
    """Parameters of fence devices that the cluster file sets from a secret (redacted in the
    rendered CIB)."""
    root = ET.fromstring(rendered_cib)
    return {nv.get("name", "") for nv in root.iter("nvpair") if nv.get("value") == SECRET_PLACEHOLDER}


def redact_cib(cib: str, names: set[str]) -> str:
    """The CIB with the value of every fence device parameter that is a secret (named in
    the file, or any `passw`/`secret` parameter one added by hand) replaced."""
    root = ET.fromstring(cib)
    for primitive in root.iter("primitive"):
        if primitive.get("class") != "stonith":
            continue
        for nvpair in primitive.iter("nvpair"):
            name = nvpair.get("name", "")
            if name in names or SECRET_NAME.search(name):
                nvpair.set("value", SECRET_PLACEHOLDER)
    return ET.tostring(root, encoding="unicode") + "\n"


def _jobs(cluster: Cluster, files: dict[str, list[RenderedFile]]) -> list[tuple[str, str]]:
    members = {n.name for n in cluster.members}
    jobs = []
    for node in cluster.nodes:
        jobs += [(node.name, _file_read(item.dest)) for item in files.get(node.name, [])]
        jobs += [(node.name, CIB_QUERY), (node.name, CRM_MON)] if node.name in members else []
        jobs.append((node.name, _packages_query()))
    return jobs


def _failed(collected: Collected, result: Result, what: str) -> bool:
    """Record a command that did not work (a missing file is no error); True if it failed."""
    if result.rc == 0:
        return False
    record = collected.node(result.host)
    if result.rc == MISSING:
        record["missing"].append(what)
    else:
        record["errors"].append(f"{what}: {(result.stderr or result.stdout).strip()[:300] or f'exit {result.rc}'}")
    return True


def collect(cluster: Cluster, with_secrets: bool) -> Collected:
    """Read everything from the nodes (read-only, in parallel) and redact it in memory."""
    inventory = inventory_of(cluster)
    files = installed_files(inventory)
    cib_names = {nv for item in render_all(inventory) if item.dest == CIB_FILE for nv in cib_secret_names(item.content)}
    results = Hosts(cluster).run_all(_jobs(cluster, files), timeout=60)
    collected = Collected()
    for node in cluster.nodes:
        collected.node(node.name)
        for item in files.get(node.name, []):
            result = results[(node.name, _file_read(item.dest))]
            if not _failed(collected, result, item.dest):
                _add_file(collected, item, result.stdout, with_secrets)
    for (host, command), result in results.items():
        special = {CIB_QUERY: "cib.xml", CRM_MON: "crm_mon.xml", _packages_query(): "packages.tsv"}
        if command in special and not _failed(collected, result, special[command]):
            text = result.stdout if with_secrets or command != CIB_QUERY else redact_cib(result.stdout, cib_names)
            source = command.split(" 2>")[0]
            collected.add(host, special[command], text, source, command == CIB_QUERY and not with_secrets)
    return collected


def _add_file(collected: Collected, item: RenderedFile, installed: str, with_secrets: bool) -> None:
    assert item.host is not None
    patterns = secret_line_patterns(item.content)
    if with_secrets or patterns == []:
        collected.add(item.host, item.dest, installed, item.dest, False)
    elif patterns is None:
        collected.node(item.host)["errors"].append(f"{item.dest}: left out, it holds a secret (--with-secrets)")
    else:
        collected.add(item.host, item.dest, redact_file(installed, patterns), item.dest, True)


def manifest(cluster: Cluster, collected: Collected, with_secrets: bool) -> dict:
    return {
        "cluster": cluster.name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "halab": __version__,
        "with_secrets": with_secrets,
        "nodes": collected.nodes,
    }


def check_output(output: Path, force: bool) -> None:
    """Refuse an output that exists (unless --force) or whose directory does not (exit 2)."""
    if (output.exists() or output.is_symlink()) and not force:
        raise InvalidInput([Problem("-o", f"{output} exists", "name a new path, or pass --force to replace it")],
                           title="invalid argument")  # fmt: skip
    if not output.parent.is_dir():
        raise InvalidInput([Problem("-o", f"{output.parent} is not a directory", "create it first")],
                           title="invalid argument")  # fmt: skip
    if output.is_dir() and output.name.endswith(ARCHIVE_SUFFIXES):
        raise InvalidInput([Problem("-o", f"{output} is a directory", "remove it or name another archive")],
                           title="invalid argument")  # fmt: skip


@contextmanager
def private_umask(private: bool) -> Iterator[None]:
    """With secrets, everything is created 0600/0700 from the start (never widened, never
    chmod-ed after the content is in)."""
    previous = os.umask(0o077) if private else None
    try:
        yield
    finally:
        if previous is not None:
            os.umask(previous)


def write_archive(output: Path, entries: dict[str, bytes], private: bool) -> None:
    """A tar.gz written to a new file beside `output`, then renamed over it."""
    mode = 0o600 if private else 0o644
    temporary = output.with_name(f".{output.name}.halab-{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            for name, data in sorted(entries.items()):
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(data), mode, int(time.time())
                tar.addfile(info, io.BytesIO(data))
        os.replace(temporary, output)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_directory(output: Path, entries: dict[str, bytes], private: bool) -> None:
    target = OutputDir(output, dir_mode=0o700 if private else 0o755)
    for name, data in sorted(entries.items()):
        target.write(name, data.decode("utf-8"), mode=0o600 if private else 0o644)


def backup(cluster: Cluster, output: Path, with_secrets: bool, force: bool) -> None:
    """Collect, then write the archive or directory; exit 1 (after writing) if a node or a
    command failed, so a partial backup is never taken for a whole one."""
    check_output(output, force)
    collected = collect(cluster, with_secrets)
    entries = dict(collected.entries)
    entries["manifest.json"] = (json.dumps(manifest(cluster, collected, with_secrets), indent=2) + "\n").encode()
    with private_umask(with_secrets):
        (write_archive if output.name.endswith(ARCHIVE_SUFFIXES) else write_directory)(output, entries, with_secrets)
    click.echo(f"backup of {cluster.name}: {len(entries) - 1} files from {len(collected.nodes)} nodes in {output}"
               + ("" if with_secrets else " (secrets left out)"))  # fmt: skip
    errors = [f"{node}: {error}" for node, record in collected.nodes.items() for error in record["errors"]]
    for error in errors:
        click.echo(f"not backed up: {error}", err=True)
    if any("left out" not in error for error in errors):
        raise OperationFailed(f"the backup in {output} is incomplete ({len(errors)} problem(s) above)")

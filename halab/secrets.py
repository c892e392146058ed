"""Secrets of a cluster: where each one sits in the file, where it comes from, its format.

Derived once here and used by validation (plain text refused, secret files checked), the
inventory (each secret becomes a `halab.ha.secret` lookup of its source, never a value),
`halab render` (redacted) and the run (every secret resolved and checked on this machine
before any host is touched). The resolving rules themselves live in the collection's
`secret_source` module, which the lookup plugin uses too: one rule for both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .errors import FieldPath, Problem, format_path
from .model import Cluster, EnvSecret, Fencing, FileSecret
from .paths import module_util
from .yamlsource import VaultValue


@dataclass(frozen=True)
class SecretPlace:
    """One secret: its field path, its source as written, and the format its target needs."""

    path: FieldPath
    source: Any  # EnvSecret | FileSecret | VaultValue | str (plain text, labs only)
    format: str = "line"

    @property
    def key(self) -> str:
        return format_path(self.path)


# Where each secret sits in the file: `secret_places` lists them, the inventory refers to them.
HACLUSTER_PASSWORD: FieldPath = ("pacemaker", "hacluster_password")
# A node's connection secrets and the Ansible variables they become.
CONNECTION_SECRETS = {"password": "ansible_password", "become_password": "ansible_become_password"}


def fence_password(device: int) -> FieldPath:
    return ("fencing", "devices", device, "password")


def vrrp_auth_pass(instance: int) -> FieldPath:
    return ("vrrp", "instances", instance, "auth_pass")


def drbd_shared_secret(resource: int) -> FieldPath:
    return ("drbd", "resources", resource, "shared_secret")


def service_file_secret(service: int, file: int) -> FieldPath:
    return ("services", service, "files", file, "secret")


def connection_secret(node: int, field: str) -> FieldPath:
    return ("nodes", node, "connection", field)


def secret_places(cluster: Cluster) -> list[SecretPlace]:
    """Every secret the file sets for its hosts, in file order (`lab.bmc.password` is the
    lab's own: `halab lab up` resolves it with the same rules)."""
    places = [SecretPlace(HACLUSTER_PASSWORD, cluster.pacemaker.hacluster_password)]
    if isinstance(cluster.fencing, Fencing):
        places += [SecretPlace(fence_password(i), d.password, "ipmi_password" if d.agent == "fence_ipmilan" else "line")
                   for i, d in enumerate(cluster.fencing.devices)]  # fmt: skip
    if cluster.vrrp is not None:
        places += [SecretPlace(vrrp_auth_pass(i), inst.auth_pass, "vrrp_auth_pass")
                   for i, inst in enumerate(cluster.vrrp.instances)]  # fmt: skip
    if cluster.drbd is not None:
        places += [SecretPlace(drbd_shared_secret(i), res.shared_secret, "drbd_shared_secret")
                   for i, res in enumerate(cluster.drbd.resources)]  # fmt: skip
    for i, service in enumerate(cluster.services):
        places += [SecretPlace(service_file_secret(i, j), file.secret) for j, file in enumerate(service.files)]
    for i, node in enumerate(cluster.nodes):
        places += [SecretPlace(connection_secret(i, field), getattr(node.connection, field))
                   for field in CONNECTION_SECRETS]  # fmt: skip
    return [place for place in places if place.source is not None]


class SecretRef(str):
    """An Ansible expression that yields a secret at run time (never the secret itself)."""

    __slots__ = ()


# A `secret_ref` as written; group 1 is the secret's key in `halab_secrets`.
SECRET_REF = re.compile(r"\{\{ lookup\('halab\.ha\.secret', halab_secrets\['([^'\n]*)'\]\) \}\}")


def secret_ref(path: FieldPath) -> SecretRef:
    """The lookup of the secret at `path`: the expression holds only halab's own key (field
    names, indexes), so no path, name or value from the file can change it."""
    return SecretRef(f"{{{{ lookup('halab.ha.secret', halab_secrets['{format_path(path)}']) }}}}")


def resolve_ref(ref: SecretRef, sources: dict[str, Any]) -> str:
    """The value `ref` yields on the nodes' side, resolved here by the lookup's own rules from
    the inventory's `halab_secrets` (no template evaluated). SecretError names what is missing."""
    match = SECRET_REF.fullmatch(ref)
    key = match.group(1) if match else "?"
    source = sources.get(key)
    if not isinstance(source, dict):
        raise rules().SecretError(f"secret {key}: halab_secrets has no source for it")
    if isinstance(source.get("vault"), VaultValue):
        raise rules().SecretError(f"secret {key}: is an !vault value, which halab decrypts only for a run")
    return str(rules().resolve(source))


def rules() -> ModuleType:
    """The collection's `secret_source` module: the rules the lookup applies on the nodes' side."""
    return module_util("secret_source")


def lookup_source(place: SecretPlace) -> dict[str, Any]:
    """The source as the `halab.ha.secret` lookup takes it (what the inventory holds)."""
    source: dict[str, Any] = {"name": place.key, "format": place.format}
    if isinstance(place.source, EnvSecret):
        source["env"] = place.source.env
    elif isinstance(place.source, FileSecret):
        source["file"] = place.source.file
    elif isinstance(place.source, VaultValue):
        source["vault"] = place.source
    else:
        source["value"] = PlainSecret(place.source)
    return source


class PlainSecret(str):
    """A secret written in plain text in the cluster file (allowed for labs only)."""

    __slots__ = ()


def validation_findings(cluster: Cluster) -> list[tuple[FieldPath, str, str]]:
    """What validation can say without reading a secret: plain text, and unsafe secret files."""
    findings = []
    for place in secret_places(cluster):
        if isinstance(place.source, str) and not cluster.allow_plaintext_secrets:
            findings.append((place.path, "plain-text secret",
                             "use {env: VARIABLE}, {file: /path} or an !vault value "
                             "(or set allow_plaintext_secrets: true for a throwaway lab)"))  # fmt: skip
        elif isinstance(place.source, str):
            problem = rules().format_problem(place.source, place.format)
            if problem:
                findings.append((place.path, f"the value {problem}", "fix the secret"))
        elif isinstance(place.source, FileSecret):
            problem = rules().file_problem(place.source.file)
            if problem:
                findings.append(((*place.path, "file"), f"{place.source.file} {problem}", "fix the file or the path"))
    return findings


def _vault_lib(password_file: str | None) -> Any:
    from ansible.parsing.dataloader import DataLoader
    from ansible.parsing.vault import VaultLib, get_file_vault_secret

    secret = get_file_vault_secret(filename=password_file, loader=DataLoader())
    secret.load()
    return VaultLib([("default", secret)])


def check_secrets(cluster: Cluster, vault_password_file: str | None = None) -> list[Problem]:
    """Resolve every secret on this machine and check its format (values never leave here)."""
    problems = []
    places = secret_places(cluster)
    vault = None
    if any(isinstance(p.source, VaultValue) for p in places):
        if vault_password_file is None:
            first = next(p.key for p in places if isinstance(p.source, VaultValue))
            return [Problem(first, "an !vault secret needs the vault password", "pass --vault-password-file FILE")]
        try:
            vault = _vault_lib(vault_password_file)
        except Exception as exc:  # ansible raises AnsibleError subclasses and OSError here
            return [Problem("--vault-password-file", f"cannot read the vault password: {exc}", "check the file")]
    for place in places:
        source = lookup_source(place)
        if vault is not None and isinstance(place.source, VaultValue):
            try:
                source["vault"] = vault.decrypt(place.source.ciphertext).decode("utf-8")
            except Exception:  # wrong password or damaged ciphertext; never show the text
                problems.append(Problem(place.key, "the !vault value cannot be decrypted with this password",
                                        "check --vault-password-file and the value"))  # fmt: skip
                continue
        try:
            rules().resolve(source)
        except rules().SecretError as exc:
            problems.append(Problem(place.key, str(exc).removeprefix(f"secret {place.key}: "), _hint(place)))
    return problems


def _hint(place: SecretPlace) -> str:
    if isinstance(place.source, EnvSecret):
        return f"export {place.source.env}=... before running halab"
    if isinstance(place.source, FileSecret):
        return f"write the secret to {place.source.file} (mode 0600), one line"
    return "fix the secret's value"


def env_names(cluster: Cluster) -> list[str]:
    """Environment variables that carry this cluster's secrets (scrubbed from run records)."""
    return [place.source.env for place in secret_places(cluster) if isinstance(place.source, EnvSecret)]


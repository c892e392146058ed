# Copyright: halab contributors
# Apache-2.0
"""The platform facts halab's roles choose their variables by, read with one raw command
(no Python on the node): on a no-op deploy `setup` was the slowest task, about 1 s per
container and 9-10 s per emulated VM."""

from __future__ import annotations

import re
import shlex

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

SEPARATOR = "--halab-platform--"
COMMAND = (f"cat /etc/os-release; echo {SEPARATOR}; cat /etc/debian_version 2>/dev/null; echo {SEPARATOR}; "
           f"uname -n; echo {SEPARATOR}; test -d /run/systemd/system && echo systemd")
# os-release ID (or the first known of ID_LIKE) -> Ansible's os_family and distribution.
FAMILIES = {"debian": "Debian", "ubuntu": "Debian", "rhel": "RedHat", "centos": "RedHat", "fedora": "RedHat",
            "rocky": "RedHat", "almalinux": "RedHat"}
DISTRIBUTIONS = {"debian": "Debian", "ubuntu": "Ubuntu", "rhel": "RedHat", "centos": "CentOS", "fedora": "Fedora",
                 "rocky": "Rocky", "almalinux": "AlmaLinux"}
PACKAGE_MANAGERS = {"Debian": "apt", "RedHat": "dnf"}


def _os_release(text):
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and re.fullmatch(r"[A-Z_]+", key):
            words = shlex.split(value) if value else [""]
            fields[key] = words[0] if words else ""
    return fields


def platform_facts(stdout):
    """The facts from the command's output, named and valued as `setup` names them."""
    sections = re.split(rf"^{SEPARATOR}$", stdout.replace("\r\n", "\n"), flags=re.MULTILINE)  # \r\n: a pty
    if len(sections) != 4:
        raise AnsibleActionFail("could not read /etc/os-release and uname -n on this host")
    release, debian_version, nodename, service_mgr = (section.strip() for section in sections)
    fields = _os_release(release)
    ids = [fields.get("ID", "")] + fields.get("ID_LIKE", "").split()
    family = next((FAMILIES[i] for i in ids if i in FAMILIES), fields.get("NAME", "unknown"))
    distribution = DISTRIBUTIONS.get(ids[0], fields.get("NAME", "unknown"))
    version = fields.get("VERSION_ID", "")
    if distribution == "Debian" and re.fullmatch(r"[0-9]+(\.[0-9]+)*", debian_version):
        version = debian_version  # setup reads the point release there: 12.8, not 12
    facts = {
        "os_family": family,
        "distribution": distribution,
        "distribution_version": version,
        "distribution_major_version": version.split(".")[0] if version else "N/A",
        "distribution_release": fields.get("VERSION_CODENAME", ""),
        "nodename": nodename,
        "hostname": nodename.split(".")[0],
    }
    if family in PACKAGE_MANAGERS:
        facts["pkg_mgr"] = PACKAGE_MANAGERS[family]
    if service_mgr:
        facts["service_mgr"] = service_mgr
    return facts


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        done = self._low_level_execute_command(COMMAND)
        result["ansible_facts"] = platform_facts(done.get("stdout", ""))
        result["changed"] = False
        return result

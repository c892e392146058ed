#!/usr/bin/python
# Copyright: halab contributors
# Apache-2.0
"""Converge several directories and files in one module call."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: files
short_description: Converge several directories and whole files in one round trip
description:
  - Creates the O(directories) that are missing, then writes each of the O(files) whose
    content differs, atomically (a temporary file in the same directory, renamed over the
    old one) and only after its O(files[].validate) command accepted the new content.
  - Owner, group and mode are enforced on every entry, changed or not.
  - The content is rendered on the controller (for example with C(lookup('template', ...)))
    so a role converges all of its files with one module call instead of two per file.
version_added: "0.1.0"
author: halab contributors
options:
  directories:
    description: Directories, created when missing (their parent must exist).
    type: list
    elements: dict
    default: []
    suboptions:
      path: {description: Absolute path., type: path, required: true}
      owner: {description: Owner name., type: str, default: root}
      group: {description: Group name., type: str, default: root}
      mode: {description: Octal mode as a string., type: str, default: "0755"}
  files:
    description: Files with their whole content (their directory must exist).
    type: list
    elements: dict
    default: []
    suboptions:
      path: {description: Absolute path., type: path, required: true}
      content: {description: The whole content (text)., type: str, required: true}
      owner: {description: Owner name., type: str, default: root}
      group: {description: Group name., type: str, default: root}
      mode: {description: Octal mode as a string., type: str, default: "0644"}
      validate:
        description:
          - Command checking the new content before it replaces the file; C(%s) is the
            path of the temporary file. A non-zero exit fails the task and leaves the
            file untouched.
        type: str
      secret:
        description:
          - The content holds a secret (a password). It is left out of the diff, of
            RV(previous) and of the validation output, so the module's messages can be shown.
            The module arguments still carry it, so run the task with C(no_log).
        type: bool
        default: false
  return_previous:
    description: Return the former content of every file whose content changed (RV(previous)).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
notes:
  - A file holding a secret needs O(files[].secret) and C(no_log) on the task.
"""

EXAMPLES = r"""
- name: Write Apache's files
  halab.ha.files:
    directories:
      - {path: /var/lib/halab/apache}
    files:
      - {path: /etc/apache2/ports.conf, content: "{{ lookup('template', 'ports.conf.j2') }}"}
      - path: /etc/corosync/corosync.conf
        content: "{{ lookup('template', 'corosync.conf.j2') }}"
        validate: corosync -t -c %s
"""

RETURN = r"""
changed_paths:
  description: Paths created, rewritten or whose owner, group or mode was corrected.
  type: list
  elements: str
  returned: always
previous:
  description: Former content of each file whose content changed (empty string for a new file).
  type: dict
  returned: when return_previous
"""

import grp  # noqa: E402
import os  # noqa: E402
import pwd  # noqa: E402
import shlex  # noqa: E402
import stat  # noqa: E402
import tempfile  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402


def _ids(module, entry):
    try:
        return pwd.getpwnam(entry["owner"]).pw_uid, grp.getgrnam(entry["group"]).gr_gid
    except KeyError as exc:
        module.fail_json(msg=f"{entry['path']}: unknown owner or group {exc}")


def _mode(module, entry):
    try:
        return int(entry["mode"], 8)
    except ValueError:
        module.fail_json(msg=f"{entry['path']}: mode {entry['mode']!r} is not octal")


def _fix_attributes(module, path, uid, gid, mode):
    """Owner, group and mode of an existing path; True when something was (or would be) corrected."""
    info = os.lstat(path)
    if (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (uid, gid, mode):
        return False
    if not module.check_mode:
        os.chown(path, uid, gid)
        os.chmod(path, mode)
    return True


def converge_directory(module, entry):
    path = entry["path"]
    uid, gid = _ids(module, entry)
    mode = _mode(module, entry)
    if os.path.isdir(path):
        return _fix_attributes(module, path, uid, gid, mode)
    if os.path.lexists(path):
        module.fail_json(msg=f"{path} exists and is not a directory")
    if not module.check_mode:
        os.mkdir(path, mode)
        os.chown(path, uid, gid)
        os.chmod(path, mode)
    return True


def _read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def _write_validated(module, entry, data, uid, gid, mode):
    path = entry["path"]
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchown(handle.fileno(), uid, gid)
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        if entry.get("validate"):
            argv = [arg.replace("%s", tmp) for arg in shlex.split(entry["validate"])]
            rc, out, err = module.run_command(argv)
            if rc != 0:
                if entry["secret"]:  # the validator may quote the line that holds the secret
                    out, err = "", "(not shown: the file holds a secret)"
                module.fail_json(msg=f"{path}: the new content failed validation ({entry['validate']}); "
                                     "the file was left unchanged", rc=rc, stdout=out, stderr=err)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def converge_file(module, entry, planned_dirs):
    """Return (changed, former content or None when the content did not change).
    planned_dirs: directories this call creates (in check mode they do not exist yet)."""
    path = entry["path"]
    uid, gid = _ids(module, entry)
    mode = _mode(module, entry)
    parent = os.path.dirname(path)
    if not os.path.isdir(parent) and parent not in planned_dirs:
        module.fail_json(msg=f"{path}: directory {parent} does not exist")
    data = entry["content"].encode("utf-8")
    old = _read(path)
    if old == data:
        return _fix_attributes(module, path, uid, gid, mode), None
    if not module.check_mode:
        _write_validated(module, entry, data, uid, gid, mode)
    return True, old if old is not None else b""


def main():
    attributes = {"owner": {"type": "str", "default": "root"}, "group": {"type": "str", "default": "root"}}
    module = AnsibleModule(
        argument_spec={
            "directories": {"type": "list", "elements": "dict", "default": [], "options": {
                "path": {"type": "path", "required": True}, "mode": {"type": "str", "default": "0755"},
                **attributes}},
            "files": {"type": "list", "elements": "dict", "default": [], "options": {
                "path": {"type": "path", "required": True}, "content": {"type": "str", "required": True},
                "mode": {"type": "str", "default": "0644"}, "validate": {"type": "str"},
                "secret": {"type": "bool", "default": False}, **attributes}},
            "return_previous": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    changed_paths, previous, diffs = [], {}, []
    for entry in module.params["directories"]:
        if converge_directory(module, entry):
            changed_paths.append(entry["path"])
    planned_dirs = {os.path.normpath(entry["path"]) for entry in module.params["directories"]}
    for entry in module.params["files"]:
        changed, old = converge_file(module, entry, planned_dirs)
        if changed:
            changed_paths.append(entry["path"])
        if old is not None and entry["secret"]:
            hidden = f"({entry['path']} holds a secret: not shown)\n"
            diffs.append({"before_header": entry["path"], "after_header": entry["path"],
                          "before": "" if not old else hidden, "after": hidden})
        elif old is not None:
            previous[entry["path"]] = old.decode("utf-8", errors="replace")
            diffs.append({"before_header": entry["path"], "after_header": entry["path"],
                          "before": previous[entry["path"]], "after": entry["content"]})
    result = {"changed": bool(changed_paths), "changed_paths": changed_paths}
    if module.params["return_previous"]:
        result["previous"] = previous
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()

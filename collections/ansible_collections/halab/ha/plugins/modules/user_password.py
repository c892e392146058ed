#!/usr/bin/python
# Copyright: halab contributors
# Apache-2.0
"""Set a local user's password idempotently (SHA-512 crypt), the password never on a command line."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: user_password
short_description: Set a local user's password, only when it differs
description:
  - Compares the password with the user's hash in C(/etc/shadow) and, when it does not
    match (or the hash is of another scheme), sets a new SHA-512 crypt hash with
    C(chpasswd -e), the hash on its stdin.
  - Hashing is plain Python (module_utils sha512_crypt), so it works where Python has no
    C(crypt) module (3.13 and later) and needs nothing on the controller.
version_added: "0.2.0"
author: halab contributors
options:
  name:
    description: The user.
    type: str
    required: true
  password:
    description: The password (a secret; the module never returns it).
    type: str
    required: true
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Set the hacluster password
  halab.ha.user_password:
    name: hacluster
    password: "{{ pacemaker_hacluster_password }}"
  no_log: true
"""

RETURN = r"""
changed:
  description: Whether the password was (or, in check mode, would be) set.
  type: bool
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.halab.ha.plugins.module_utils.sha512_crypt import matches, new_hash  # noqa: E402

SHADOW = "/etc/shadow"


def current_hash(name):
    with open(SHADOW, encoding="utf-8") as shadow:
        for line in shadow:
            fields = line.rstrip("\n").split(":")
            if fields[0] == name:
                return fields[1] if len(fields) > 1 else ""
    return None


def main():
    module = AnsibleModule(
        argument_spec={"name": {"type": "str", "required": True},
                       "password": {"type": "str", "required": True, "no_log": True}},
        supports_check_mode=True,
    )
    name, password = module.params["name"], module.params["password"]
    hashed = current_hash(name)
    if hashed is None:
        module.fail_json(msg=f"user {name} does not exist")
    if matches(password, hashed):
        module.exit_json(changed=False)
    if not module.check_mode:
        rc, _, err = module.run_command(["chpasswd", "-e"], data=f"{name}:{new_hash(password)}")
        if rc != 0:
            module.fail_json(msg=f"chpasswd failed (rc={rc}): {err.strip()}")
    module.exit_json(changed=True)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright: halab contributors
# Apache-2.0
"""Documentation of the platform_facts action (it runs on the controller: plugins/action)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: platform_facts
short_description: The platform facts the halab roles need, read without Python on the node
description:
  - Sets C(os_family), C(distribution), C(distribution_version),
    C(distribution_major_version), C(distribution_release), C(nodename), C(hostname),
    C(pkg_mgr) and C(service_mgr) with the names and values C(ansible.builtin.setup) gives
    them, from one raw command (C(/etc/os-release), C(/etc/debian_version), C(uname -n)).
  - A fraction of the cost of C(setup) with C(gather_subset=min), which starts Python and
    runs a dozen collectors; on an emulated VM that is seconds.
version_added: "0.1.0"
author: halab contributors
options: {}
attributes:
  check_mode:
    support: full
  facts:
    support: full
"""

EXAMPLES = r"""
- name: Read the platform facts
  halab.ha.platform_facts:
"""

RETURN = r"""
ansible_facts:
  description: The facts listed above.
  type: dict
  returned: always
"""

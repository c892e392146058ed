# Copyright: halab contributors
# Apache-2.0
"""Lookup plugin: a halab secret from its source, checked against its format."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: secret
author: halab contributors
version_added: "0.2.0"
short_description: A secret from an environment variable, a file, a vault value or plain text, checked
description:
  - Resolves secret sources as halab's generated inventory writes them (the variable
    C(halab_secrets)) and checks the value against the format its target needs, so a bad
    secret fails the preflight play before any host is changed. Errors name the secret,
    never its value.
  - "C({file:}): a regular file, not readable by group or others, at most 64 KiB; the value is
    the whole content with one final newline removed."
options:
  _terms:
    description:
      - "Secret sources: mappings with C(name), C(format) (C(line) or C(vrrp_auth_pass)) and one of
        C(env: VARIABLE), C(file: /path), C(vault: !vault |...) or C(value: text)."
    required: true
    type: list
    elements: dict
"""

EXAMPLES = r"""
- name: The hacluster password from the environment
  ansible.builtin.debug:
    msg: "{{ lookup('halab.ha.secret', {'name': 'hacluster', 'env': 'HACLUSTER_PASSWORD', 'format': 'line'}) }}"
  no_log: true
"""

RETURN = r"""
_raw:
  description: The secret values, one per term.
  type: list
  elements: str
"""

from ansible.errors import AnsibleLookupError  # noqa: E402
from ansible.plugins.lookup import LookupBase  # noqa: E402

from ansible_collections.halab.ha.plugins.module_utils.secret_source import SecretError, resolve  # noqa: E402


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        values = []
        for term in terms:
            if not isinstance(term, dict):
                raise AnsibleLookupError("halab.ha.secret takes secret sources (mappings), see its documentation")
            try:
                values.append(resolve(dict(term)))
            except SecretError as exc:
                raise AnsibleLookupError(str(exc)) from None
        return values

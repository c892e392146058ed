# Copyright: halab contributors
# Apache-2.0
"""password_matches: compare a password with a crypt hash on the controller.

The roles' state probe reads a user's hash from the node's shadow file (no_log) and this
filter checks it, so a deploy whose password is unchanged runs no module for it; the
password never reaches the node unless it must be set (halab.ha.user_password)."""

from __future__ import annotations

from ansible_collections.halab.ha.plugins.module_utils.sha512_crypt import matches


def password_matches(password: str, hashed: str | None) -> bool:
    """`hashed` is a SHA-512 crypt hash of `password`; any other scheme, or none, is not."""
    return matches(str(password), str(hashed or ""))


class FilterModule:
    def filters(self) -> dict:
        return {"password_matches": password_matches}

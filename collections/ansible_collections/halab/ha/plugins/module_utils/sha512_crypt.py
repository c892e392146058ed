# Copyright: halab contributors
# Apache-2.0
"""SHA-512 crypt ("$6$", Ulrich Drepper's specification), in plain Python.

What glibc's crypt(3) computes for /etc/shadow. Python 3.13 removed the `crypt` module
(Debian 13 ships 3.13) and Ansible's password_hash filter needs passlib on the
controller; this needs nothing but hashlib, on any Python 3.
"""

from __future__ import annotations

import hashlib
import secrets

ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
DEFAULT_ROUNDS = 5000
# The order in which the 64 digest bytes are encoded, three at a time (the last alone).
_ORDER = ((0, 21, 42), (22, 43, 1), (44, 2, 23), (3, 24, 45), (25, 46, 4), (47, 5, 26), (6, 27, 48),
          (28, 49, 7), (50, 8, 29), (9, 30, 51), (31, 52, 10), (53, 11, 32), (12, 33, 54), (34, 55, 13),
          (56, 14, 35), (15, 36, 57), (37, 58, 16), (59, 17, 38), (18, 39, 60), (40, 61, 19), (62, 20, 41))


def _repeat(digest: bytes, length: int) -> bytes:
    return (digest * (length // len(digest) + 1))[:length]


def _encode(digest: bytes) -> str:
    out = []
    for a, b, c in _ORDER:
        word = (digest[a] << 16) | (digest[b] << 8) | digest[c]
        out += [ALPHABET[(word >> shift) & 0x3F] for shift in (0, 6, 12, 18)]
    word = digest[63]
    out += [ALPHABET[word & 0x3F], ALPHABET[(word >> 6) & 0x3F]]
    return "".join(out)


def sha512_crypt(password: str, salt: str, rounds: int | None = None) -> str:
    """The "$6$" hash of `password` with `salt` (at most 16 characters are used)."""
    key, salt_bytes = password.encode("utf-8"), salt.encode("utf-8")[:16]
    count = DEFAULT_ROUNDS if rounds is None else min(max(rounds, 1000), 999_999_999)
    alternate = hashlib.sha512(key + salt_bytes + key).digest()
    a = hashlib.sha512(key + salt_bytes + _repeat(alternate, len(key)))
    length = len(key)
    while length:
        a.update(alternate if length & 1 else key)
        length >>= 1
    digest = a.digest()
    p = _repeat(hashlib.sha512(key * len(key)).digest(), len(key))
    s = _repeat(hashlib.sha512(salt_bytes * (16 + digest[0])).digest(), len(salt_bytes))
    for i in range(count):
        step = hashlib.sha512(p if i & 1 else digest)
        if i % 3:
            step.update(s)
        if i % 7:
            step.update(p)
        step.update(digest if i & 1 else p)
        digest = step.digest()
    prefix = "$6$" if rounds is None else f"$6$rounds={count}$"
    return f"{prefix}{salt_bytes.decode('utf-8', errors='ignore')}${_encode(digest)}"


def matches(password: str, hashed: str) -> bool:
    """`hashed` is a "$6$" hash of `password` (any other scheme: False)."""
    parts = hashed.split("$")
    if len(parts) < 4 or parts[1] != "6":
        return False
    rounds = None
    if parts[2].startswith("rounds="):
        rounds, parts = int(parts[2][len("rounds="):]), [*parts[:2], *parts[3:]]
    return secrets.compare_digest(sha512_crypt(password, parts[2], rounds), hashed)


def new_hash(password: str) -> str:
    return sha512_crypt(password, "".join(secrets.choice(ALPHABET) for _ in range(16)))

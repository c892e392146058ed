"""The plain-Python SHA-512 crypt that sets the hacluster password (halab.ha.user_password)."""

from __future__ import annotations

import warnings
from types import ModuleType

import pytest

from halab.paths import module_util


def sha512_crypt() -> ModuleType:
    return module_util("sha512_crypt")


# Test vectors of the specification (https://www.akkadia.org/drepper/SHA-crypt.txt).
VECTORS = [
    ("Hello world!", "saltstring", None,
     "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"),
    ("Hello world!", "saltstringsaltstring", 10000,
     "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/"
     "YTBmSK6H9qs/y3RnOaw5v."),
    ("This is just a test", "toolongsaltstring", 5000,
     "$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/"
     "e1JSbq3y6JMxxl8audkUEm0"),
    ("a very much longer text to encrypt.  This one even stretches over morethan one line.", "anotherlongsaltstring",
     1400, "$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbt"
     "EW7o7UmJEiDwGqd8p4ur1"),
]  # fmt: skip


@pytest.mark.parametrize(("password", "salt", "rounds", "expected"), VECTORS)
def test_specification_vectors(password: str, salt: str, rounds: int | None, expected: str) -> None:
    assert sha512_crypt().sha512_crypt(password, salt, rounds) == expected
    assert sha512_crypt().matches(password, expected)


def test_agrees_with_glibc_and_refuses_other_schemes() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        crypt = pytest.importorskip("crypt")  # Python < 3.13: glibc's crypt(3)
    for password in ("", "x", "x" * 64, "x" * 130, "pässwörd", "Lab-hacluster-7f3a"):
        hashed = sha512_crypt().new_hash(password)
        assert crypt.crypt(password, hashed) == hashed
        assert not sha512_crypt().matches(password + "!", hashed)
    assert not sha512_crypt().matches("x", "$y$j9T$abc$def")  # yescrypt: not comparable, set anew
    assert not sha512_crypt().matches("x", "!")

"""The webhook check's HMAC-SHA256, keyed once per secret, must be HMAC-SHA256 for any secret and body.

A sender signs with its own library (Stripe's scheme, any language); one
bit of difference would refuse every webhook of a secret that is long,
non-ASCII or longer than SHA-256's 64-byte block (which HMAC hashes first).
"""

from __future__ import annotations

import hmac

from hypothesis import given
from hypothesis import strategies as st

from screenpop.providers.signing import SigningKeys

# RFC 4231, section 4: the test cases whose keys are text
RFC_4231 = [
    ("\x0b" * 20, b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (
        "Jefe",
        b"what do ya want for nothing?",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    ),
]


def test_the_rfc_4231_vectors() -> None:
    for key, data, expected in RFC_4231:
        assert SigningKeys([key]).hexdigests(data) == [expected]


@given(st.lists(st.text(min_size=1, max_size=200), min_size=1, max_size=3), st.binary(max_size=2000))
def test_each_secret_gives_what_hmac_digest_gives(secrets: list[str], body: bytes) -> None:
    keys = SigningKeys(secrets)
    expected = [hmac.digest(s.encode("utf-8"), body, "sha256").hex() for s in secrets]
    assert keys.hexdigests(body) == expected
    assert keys.hexdigests(body) == expected  # the kept states are copied, never consumed


def test_a_key_of_exactly_one_block_and_one_more() -> None:
    for size in (63, 64, 65, 128):
        secret = "k" * size
        assert SigningKeys([secret]).hexdigests(b"1700000000.{}") == [
            hmac.digest(secret.encode(), b"1700000000.{}", "sha256").hex()
        ]

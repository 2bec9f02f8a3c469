"""A signature's Unix time is read without the regular-expression engine: it must take exactly what
``[0-9]{1,12}`` takes, whatever a sender puts there (other scripts' digits, signs, separators, spaces)."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from screenpop.errors import BadSignature
from screenpop.providers.signing import unix_seconds

PATTERN = re.compile(r"[0-9]{1,12}")
# other scripts' digits (Arabic-Indic three, fullwidth three, superscript two) and what int() forgives
DIGITISH = st.sampled_from(
    ["0", "7", "9", "\u0663", "\uff13", "\u00b2", "_", " ", "+", "-", ".", "e", "\x00", "x"]
)


@given(st.text(DIGITISH, max_size=14) | st.text(max_size=14))
@example("")
@example("1" * 12)
@example("1" * 13)
@example("\u0661\u0667\u0663\u0663")
@example("1_000")
def test_takes_what_the_pattern_takes(text: str) -> None:
    if PATTERN.fullmatch(text):
        assert unix_seconds(text, "Screenpop-Signature") == int(text)
    else:
        with pytest.raises(BadSignature, match="not a number of seconds"):
            unix_seconds(text, "Screenpop-Signature")

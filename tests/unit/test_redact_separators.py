"""``untrusted.redact`` masks a phone number however its digits are separated, and keeps short figures."""

from __future__ import annotations

import pytest

from screenpop.untrusted import redact


@pytest.mark.parametrize(
    "written",
    [
        "415 - 555 - 0132",
        "415/555/0132",
        "415_555_0132",
        "415,555,0132",
        "415 \u2013 555 \u2013 0132",
        "415 . 555 . 0132",
        "+1 (415) 555-0132",
        "\uff0b\uff11 \uff14\uff11\uff15 \uff15\uff15\uff15 \uff10\uff11\uff13\uff12",
    ],
)
def test_a_number_with_any_usual_separator_is_masked(written: str) -> None:
    """Slashes, underscores, commas, Unicode dashes and spaced dots between digits: the number goes."""
    shown = redact(f"event {written!r} is not known")
    assert not any(ch.isdigit() for ch in shown.replace("[digits]", "")), shown


def test_short_figures_stay_readable() -> None:
    """A port, a status, a time in ms, a short date: fewer than six digits in a row stay as written."""
    text = "HTTP 503 after 800 ms on port 5432, 3 of the last 10 calls, since 12/04"
    assert redact(text) == text

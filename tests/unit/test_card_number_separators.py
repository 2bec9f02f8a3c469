"""Card numbers split by what a paste or a keyboard puts between groups, not only ASCII space and dash."""

from __future__ import annotations

import pytest

from screenpop.card_numbers import mask_card_numbers

PAN = ("4111", "1111", "1111", "1111")


@pytest.mark.parametrize(
    ("separator", "what"),
    [
        ("\u00a0", "no-break space (a paste from a web page or a PDF)"),
        ("\u202f", "narrow no-break space"),
        ("\u2009", "thin space"),
        ("\u3000", "ideographic space"),
        ("\u2013", "en dash (a word processor's autocorrect)"),
        ("\u2011", "non-breaking hyphen"),
        ("\u200b", "zero-width space: the number reads whole"),
        ("\u2060", "word joiner"),
        (" \u200b", "a space and a zero-width space"),
    ],
)
def test_a_card_number_split_by_any_space_dash_or_invisible_character_is_masked(
    separator: str, what: str
) -> None:
    """All but the last four digits are hidden, and the separators stay where they were."""
    text = f"paid with {separator.join(PAN)} today"
    masked = mask_card_numbers(text)
    assert masked.card_numbers == 1, what
    assert masked.text == f"paid with {separator.join(['****', '****', '****', '1111'])} today", what


def test_two_separators_in_a_row_still_end_a_run() -> None:
    """Groups apart by two spaces are not joined: "4111  1111…" is not typed as one number."""
    text = "  ".join(PAN)
    assert mask_card_numbers(text).card_numbers == 0

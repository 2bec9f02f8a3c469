"""Card numbers split by whatever a paste or a keyboard puts between groups, however many in a row."""

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
        ("  ", "two spaces"),
        (" - ", "a dash with a space either side"),
        ("--", "two dashes"),
        (".", "a dot"),
        ("\n", "a line break (the number wrapped in the notes box)"),
        ("\r\n", "a Windows line break"),
        ("\t", "a tab"),
        ("\u00a0\u00a0", "two no-break spaces"),
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


@pytest.mark.parametrize("separator", ["/", ",", ":", " / ", "_"])
def test_slashes_commas_colons_and_underscores_end_a_number(separator: str) -> None:
    """Dates, amounts and times are written with these: groups joined by them are not one number."""
    text = f"ref {separator.join(PAN)} ok"
    assert mask_card_numbers(text).card_numbers == 0

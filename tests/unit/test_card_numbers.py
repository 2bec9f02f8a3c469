"""Card numbers typed into notes: masked to their last four digits if they pass Luhn, else left alone."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from screenpop.card_numbers import Masked, mask_card_numbers

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Published test numbers of the card schemes (Stripe's and PayPal's test card lists), 13 to 19 digits.
TEST_PANS = [
    "4111111111111111",  # Visa
    "4012888888881881",  # Visa
    "4222222222222",  # Visa, 13 digits
    "5555555555554444",  # Mastercard
    "2223003122003222",  # Mastercard 2-series
    "378282246310005",  # American Express, 15 digits
    "6011111111111117",  # Discover
    "3056930009020004",  # Diners Club
    "36227206271667",  # Diners Club, 14 digits
    "3566002020360505",  # JCB
    "6200000000000005",  # UnionPay
    "6205500000000000004",  # UnionPay, 19 digits
]


def luhn_valid(digits: str) -> bool:
    """The Luhn check written as the ISO/IEC 7812 text puts it, apart from the code under test."""
    checksum = 0
    for i, d in enumerate(int(c) for c in reversed(digits)):
        checksum += sum(divmod(d * 2, 10)) if i % 2 == 1 else d
    return checksum % 10 == 0


def with_check_digit(body: str) -> str:
    """``body`` followed by the one digit that makes it pass the Luhn check."""
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


def formatted(digits: str, cuts: list[int], separators: list[str]) -> str:
    """``digits`` split at ``cuts`` (positions) with one separator from ``separators`` at each."""
    out, last = [], 0
    for n, cut in enumerate(sorted(set(cuts))):
        out += [digits[last:cut], separators[n % len(separators)]]
        last = cut
    return "".join([*out, digits[last:]])


# What may stand between groups (SPEC 4 "spaces or dashes", read broadly): runs of any space, dash,
# dot, line break or invisible character.
SEPARATORS = [
    " ",
    "-",
    "  ",
    " - ",
    "--",
    ".",
    ". ",
    "\n",
    " \n",
    "\r\n",
    "\t",
    "\u00a0",
    "\u2013",
    "\u200b",
    "\u3000",
]


DATE_SHAPES = {(4, 2, 2), (2, 2, 4), (1, 2, 4), (2, 1, 4), (1, 1, 4)}
"""Digit groups that may write a date (a card number is never typed so): 2026-12-05, 5.12.2026."""


def separates(char: str) -> bool:
    """True for a character that would join the text around a number onto it (or mark a phone number)."""
    return (
        char.isspace() or unicodedata.category(char) in ("Pd", "Cf", "Zs") or char in ".\u2024\uff0e\u2212+"
    )


@st.composite
def card_in_format(draw: st.DrawFn, valid: bool) -> tuple[str, str]:
    """(digits, as typed): 13-19 digits, Luhn-valid or not, split by runs of separators at random."""
    length = draw(st.integers(13, 19))
    body = draw(st.sampled_from("123456789")) + draw(
        st.text("0123456789", min_size=length - 2, max_size=length - 2)
    )
    digits = with_check_digit(body)
    if not valid:
        digits = digits[:-1] + str((int(digits[-1]) + draw(st.integers(1, 9))) % 10)
    cuts = draw(st.lists(st.integers(1, length - 1), max_size=length - 1))
    separators = draw(st.lists(st.sampled_from(SEPARATORS), min_size=1, max_size=4))
    return digits, formatted(digits, cuts, separators)


# Text around the number that cannot extend its run: no digit, and no separator next to it.
AROUND = st.text(st.characters(blacklist_categories=["Nd", "Cs"]), max_size=20)


@pytest.mark.parametrize("pan", TEST_PANS)
def test_published_test_card_numbers_are_masked_to_their_last_four(pan: str) -> None:
    """Every scheme's published test number, typed plainly, keeps only its last four digits."""
    masked = mask_card_numbers(f"paid with {pan}, thanks")
    assert masked.text == f"paid with {'*' * (len(pan) - 4)}{pan[-4:]}, thanks"
    assert masked.card_numbers == 1


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("4111 1111 1111 1111", "**** **** **** 1111"),
        ("4111-1111-1111-1111", "****-****-****-1111"),
        ("3782 822463 10005", "**** ****** *0005"),
        ("ref 12 4111 1111 1111 1111.", "ref 12 **** **** **** 1111."),
        ("4111  1111  1111  1111", "****  ****  ****  1111"),
        ("4111 - 1111 - 1111 - 1111", "**** - **** - **** - 1111"),
        ("4111.1111.1111.1111", "****.****.****.1111"),
        ("card 4111 1111\n1111 1111 ok", "card **** ****\n**** 1111 ok"),
        ("\uff14\uff11\uff11\uff11 1111 1111 1111", "**** **** **** 1111"),
    ],
)
def test_the_separators_keep_their_place(typed: str, shown: str) -> None:
    """Separators, however many and of whichever kind, stay where they were; only digits turn into stars."""
    assert mask_card_numbers(typed).text == shown


@pytest.mark.parametrize(
    "text",
    [
        "order 4111111111111112 shipped",  # a Luhn-invalid 16-digit order number
        "call back on +1 415 555 0132 or 0044 20 7946 0958",  # phone numbers
        "ring +86 138 0013 8002 or 0044 20 7946 0105",  # phone numbers that pass Luhn: no card starts so
        "away 2026-12-05 - 2026-12-09, back 05.12.2026 09.12.2026",  # date ranges that pass Luhn
        "off 05.12.2026 12.12.2026 then 05.12.2026 415 555 0132",  # windows taking in part of a date
        "paid 12/05/2026 amount 1,234,567,890,123,45",  # slashes and commas write dates and amounts
        "tracking 12345678901234567890123456",  # 26 digits typed as one: no window is cut out of it
        "4111111111",  # ten digits
    ],
)
def test_numbers_that_are_not_card_numbers_are_left_alone(text: str) -> None:
    """Order, phone and tracking numbers and dates, not card numbers, pass unchanged and count as none."""
    assert mask_card_numbers(text) == Masked(text, 0)


def test_two_card_numbers_are_both_masked_and_counted() -> None:
    """Each card number in a note is masked on its own, and the count says two."""
    masked = mask_card_numbers("old 4111 1111 1111 1111; new 5555-5555-5555-4444")
    assert masked.text == "old **** **** **** 1111; new ****-****-****-4444"
    assert masked.card_numbers == 2


@PROPERTY
@given(card_in_format(valid=True), AROUND, AROUND)
def test_a_luhn_valid_number_in_any_format_shows_only_its_last_four(
    card: tuple[str, str], before: str, after: str
) -> None:
    """A Luhn-valid 13-19 digit number, however split, keeps its separators and only its last four digits."""
    digits, typed = card
    assume(not (before and separates(before[-1])) and not (after and separates(after[0])))
    groups = [len(g) for g in re.findall(r"\d+", typed)]
    assume(not any(tuple(groups[i : i + 3]) in DATE_SHAPES for i in range(len(groups))))  # maybe a date
    masked = mask_card_numbers(before + typed + after)
    assert masked.card_numbers == 1
    middle = masked.text[len(before) : len(masked.text) - len(after)]
    assert (masked.text[: len(before)], masked.text[len(masked.text) - len(after) :]) == (before, after)
    assert re.sub(r"\d", "*", middle) == re.sub(r"\d", "*", typed)  # same shape, separators in place
    assert re.sub(r"\D", "", middle) == digits[-4:]


@PROPERTY
@given(card_in_format(valid=False), AROUND, AROUND)
def test_a_luhn_invalid_number_is_left_as_typed(card: tuple[str, str], before: str, after: str) -> None:
    """A 13-19 digit number failing Luhn, in any whole-group part of it, is left exactly as typed."""
    _, typed = card
    groups = re.findall(r"\d+", typed)
    windows = ["".join(groups[i:j]) for i in range(len(groups)) for j in range(i + 1, len(groups) + 1)]
    assume(not any(13 <= len(w) <= 19 and luhn_valid(w) for w in windows))
    assume(not (before and separates(before[-1])) and not (after and separates(after[0])))
    text = before + typed + after
    assert mask_card_numbers(text) == Masked(text, 0)


@PROPERTY
@given(st.text(max_size=200))
def test_masking_twice_changes_nothing_more(text: str) -> None:
    """Masked text holds no card number any more: a saved note edited and saved again stays as it was."""
    once = mask_card_numbers(text).text
    assert mask_card_numbers(once).text == once
    assert len(once) == len(text)

"""Numbers fit for a log line."""

from __future__ import annotations

from screenpop.phone.classify import as_text, digits_of


def mask(number: str | None) -> str:
    """A number fit for a log line: only its last four digits stay readable.

    Numbers of four digits or fewer (internal extensions) are masked whole,
    since showing "the last four" would show all of it.
    """
    digits = digits_of(as_text(number), 64)
    if not digits:
        return "" if not number else "***"
    return "***" + digits[-4:] if len(digits) > 4 else "***"

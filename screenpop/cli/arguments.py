"""What a command's arguments name, checked the same way by every command that takes them."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url

from screenpop.config import Settings
from screenpop.phone import parse_caller


def phone_number(text: str, settings: Settings, option: str = "--number") -> str:
    """The E.164 (or, for a number that does not parse, the digits) that ``text`` names.

    ``ValueError`` with one sentence for text that names no number: a search
    or a test lookup for it would find nothing and read as a real answer
    ("nobody saw it", "connectors skipped").
    """
    parsed = parse_caller(text, settings.numbers.default_region)
    found = parsed.e164 or parsed.digits
    if parsed.withheld or not found:
        raise ValueError(f"{option} {text[:40]!r} is not a phone number")
    return found


def existing_store(settings: Settings, command: str) -> None:
    """``ValueError`` when ``store.url`` names a SQLite file that is not there.

    Opening the store creates a missing file (what ``serve`` wants on its
    first start); ``erase`` and ``audit`` would then search a new, empty
    store and answer "nothing found": a mistyped path read as an answer.
    """
    url = make_url(settings.store.url)
    if url.drivername.startswith("sqlite") and url.database and url.database != ":memory:":
        path = Path(url.database)
        if not path.exists():
            raise ValueError(f"store.url names {path}, which does not exist: {command} has no store to read")

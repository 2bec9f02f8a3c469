"""`screenpop check` names a field another connector `needs` that the source's query never returns.

SPEC 3's own example has `offer` need `credit.rating` while `credit` selects
`credit_limit, used, terms`: every card then fell through to the last rule
(or skipped the needing connector) and `check` said everything was ok.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from screenpop.cli import check as check_command
from screenpop.testing import make_settings


async def test_a_needed_field_the_query_does_not_return_fails_its_source(tmp_path: Path) -> None:
    database = tmp_path / "credit.db"
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE credit (account_id TEXT, credit_limit REAL, used REAL, rating TEXT)")
    credit = {
        "name": "credit",
        "kind": "sql",
        "url": f"sqlite+aiosqlite:///{database}",
        "query": "SELECT credit_limit, used FROM credit WHERE account_id = :digits",
    }
    offer = {
        "name": "offer",
        "kind": "rules",
        "needs": ["credit.rating", "credit.used"],
        "rules": [
            {"when": {"credit_rating": {"in": ["A"]}}, "then": {"terms": "Net 45"}},
            {"then": {"x": 1}},
        ],
    }
    store = {"url": f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"}
    rows = await check_command.run_checks(make_settings([credit, offer], store=store), None)
    probe = next(row for row in rows if row.part == "connector credit")
    assert (probe.ok, probe.detail) == (
        False,
        "needed by offer 'rating': query returns only credit_limit, used",
    )

    credit["query"] = "SELECT credit_limit, used, rating FROM credit WHERE account_id = :digits"
    rows = await check_command.run_checks(make_settings([credit, offer], store=store), None)
    probe = next(row for row in rows if row.part == "connector credit")
    assert probe.ok, probe.detail

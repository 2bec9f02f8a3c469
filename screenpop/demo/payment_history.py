"""credit.db's payment history: how each credit account paid, as the credit department keeps it.

SPEC 8 puts payment history beside limit, use and rating.  It is derived
from the accounting ledger already generated (every payment of an account
that has credit, against its invoice's due date), so the two databases can
never tell different stories and no random draw is added to the seed's
sequence.
"""

from __future__ import annotations

from datetime import date
from typing import Any

Row = tuple[Any, ...]


def payment_history(rows: dict[str, list[Row]]) -> list[Row]:
    """One row per payment of a credit account: the invoice, due and paid days, amount, days late."""
    credit = {row[0] for row in rows.get("credit_accounts", [])}
    due_on = {row[0]: row[3] for row in rows.get("invoices", [])}
    history: list[Row] = []
    for _, account_id, invoice_id, paid_on, amount, _method in rows.get("payments", []):
        if account_id in credit:
            late = (date.fromisoformat(paid_on) - date.fromisoformat(due_on[invoice_id])).days
            history.append((account_id, invoice_id, due_on[invoice_id], paid_on, amount, max(0, late)))
    return history

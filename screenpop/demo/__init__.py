"""Three SQLite databases that look like a small office supplier's back office.

The demo has to show what screenpop is for: numbers stored the way real
departments store them, customers entered twice under slightly different
names, accounts that are overdue or on credit hold, and two years of orders
with real rhythms for the insight connectors to learn from.  Same seed and
same day, same rows.

- ``catalogue``: the fixed data (products, names, habits, terms, the documented customers);
- ``generator``: every row, drawn from one seeded ``random.Random``;
- ``writer``: the schemas, and ``write_demo_databases`` writing each file whole.
"""

from __future__ import annotations

from screenpop.demo.catalogue import DATABASES, DEMO_CUSTOMERS, PRODUCTS, DemoCustomer
from screenpop.demo.generator import generate
from screenpop.demo.writer import SCHEMAS, DemoSummary, write_demo_databases

__all__ = [
    "DATABASES",
    "DEMO_CUSTOMERS",
    "PRODUCTS",
    "SCHEMAS",
    "DemoCustomer",
    "DemoSummary",
    "generate",
    "write_demo_databases",
]

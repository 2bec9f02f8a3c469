"""screenpop's tests, laid out as the package is.

- ``unit/``: pure logic, no servers (phone, config, lookup engine, demo data).
- ``integration/{store,broker,cache,connectors,providers}/``: one component against real
  PostgreSQL, Redis, SQLite, HTTP or AMI servers on loopback.
- ``e2e/``: the running service (in-process or ``screenpop serve`` processes), the CLI,
  clusters, faults and durability.
- ``browser/``: the widget in a real Chromium.
- ``support/``: what tests share; a test module imports only from here, never another
  test module (``test_test_modules.py``).
- Here, beside ``conftest.py`` (the session's servers and browser): the suite's own
  checks (layering, no sleeps, credentials, test-module imports) and the servers' test.
"""

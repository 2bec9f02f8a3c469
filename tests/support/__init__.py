"""What test modules share; nothing here is a test.

- ``ports``: ``free_port``, the one way to pick a loopback port before a config names it.
- ``waiting``: ``wait_for`` / ``wait_until``, the one bounded polling wait.
- ``servers``: throwaway PostgreSQL and Redis servers (the session fixtures in ``conftest.py``).
- ``tokens``: agent tokens minted with PyJWT, as a host application mints them.
- ``signers``: webhook signatures made as each phone system makes them.
- ``service``: the real app on loopback, a base config, webhooks, agent sockets, the API.
- ``agents``: reading what agents receive (frames until one matches, cards and call messages).
- ``processes``: ``screenpop serve`` processes, a counting HTTP API, raw agent sockets.
- ``ami``: a fake Asterisk AMI server and a recorded queue call.
- ``browser``: servers, connectors and a host page for the Chromium tests.
- ``fuzz``, ``fuzz_webhooks``: hypothesis settings, the error-shape check, webhook strategies.
"""

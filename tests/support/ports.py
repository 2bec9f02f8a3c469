"""Free loopback ports, for servers whose settings must name their port before they start."""

from __future__ import annotations

import socket


def free_port() -> int:
    """Ask the kernel for a loopback port that nobody is listening on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])

"""The ``sql`` kind: one parameterised query per caller; ``match: normalized`` through a phone index."""

from .connector import SqlConnector
from .options import SqlOptions

__all__ = ["SqlConnector", "SqlOptions"]

"""The ``http`` kind: one request to a JSON API per caller, fields picked out with JSONPath."""

from .connector import HttpConnector, HttpOptions

__all__ = ["HttpConnector", "HttpOptions"]

"""screenpop's HTTP face: thin handlers, their middleware, the OpenAPI document, the widget files.

``app.create_app`` wires these to routes; ``server`` runs the app (headers,
quiet answers to malformed HTTP). Every service the handlers call hangs on
the app under a typed key from ``app_keys``.
"""

from __future__ import annotations

from screenpop.web import admin, app_keys, handlers
from screenpop.web.middleware import answers_its_own_errors, cors_middleware, error_answer, error_middleware
from screenpop.web.openapi import openapi_document
from screenpop.web.server import ScreenpopRunner, serve_forever, set_headers
from screenpop.web.widget_files import widget_routes

__all__ = [
    "ScreenpopRunner",
    "admin",
    "answers_its_own_errors",
    "app_keys",
    "cors_middleware",
    "error_answer",
    "error_middleware",
    "handlers",
    "openapi_document",
    "serve_forever",
    "set_headers",
    "widget_routes",
]

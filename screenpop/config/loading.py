"""Read one config file: YAML -> ${ENV} -> validated blocks -> cross-checked Settings.

Everything that can be wrong in a config is found here, at start-up, and
said in one sentence that names the file, the key path and a fix: a typo
must never pass silently and surface as a missing card at 3 a.m.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from screenpop.config.cross_checks import cross_check
from screenpop.config.envsubst import substitute_env
from screenpop.config.errors import describe_validation_error
from screenpop.config.schema import Settings
from screenpop.errors import ConfigError


def load_settings(path: str | Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read, substitute, validate and cross-check one config file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such config file (pass --config or set SCREENPOP_CONFIG)") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {_yaml_problem(exc)}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the file should hold a mapping of sections (server:, connectors:, …)")
    return settings_from_mapping(raw, source=str(path), environ=environ or os.environ)


def settings_from_mapping(
    raw: Mapping[str, Any], source: str = "<settings>", environ: Mapping[str, str] | None = None
) -> Settings:
    """Validate an already-parsed config (tests and embedders build configs in code)."""
    data = substitute_env(raw, environ if environ is not None else os.environ, source)
    try:
        settings = Settings.model_validate({**data, "source": source})
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, source, Settings)) from exc
    return cross_check(settings)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return f"{problem} at line {mark.line + 1}" if mark else problem

"""``${NAME}`` and ``${NAME:-default}`` in config strings.

Substitution happens after YAML parsing, so a secret full of YAML-special
characters cannot change the file's structure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from screenpop.errors import ConfigError

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def substitute_env(value: Any, environ: Mapping[str, str], source: str, path: str = "") -> Any:
    """Return ``value`` with every ``${NAME}`` in its strings replaced from ``environ``."""
    if isinstance(value, str):
        return _substitute_string(value, environ, source, path)
    if isinstance(value, Mapping):
        return {
            key: substitute_env(item, environ, source, _join(path, str(key))) for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [substitute_env(item, environ, source, f"{path}[{index}]") for index, item in enumerate(value)]
    return value


def _substitute_string(text: str, environ: Mapping[str, str], source: str, path: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        raise ConfigError(
            f"{source}: {path or '<top>'}: environment variable {name} is not set "
            f"(export it, or write ${{{name}:-default}} to give a default)"
        )

    return _VARIABLE.sub(replace, text)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key

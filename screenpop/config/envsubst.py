"""``${NAME}`` and ``${NAME:-default}`` in config strings (the shell's other forms are refused).

Substitution happens after YAML parsing, so a secret full of YAML-special
characters cannot change the file's structure.  A command that reads only
part of the config (``screenpop call`` signs with one provider's secret)
passes ``unused``: a variable missing in a part it never reads is then not
an error, so a second terminal needs only the variables that command uses.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from screenpop.config.errors import is_secret_key, item_label
from screenpop.errors import ConfigError

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
#: The shell's forms without a colon (``${NAME-default}``, ``${NAME=default}``, ``${NAME?}``,
#: ``${NAME+x}``): not read here, and left as they were, the literal text became a URL or a secret
#: without a word.  Those with a colon stay text: ``${overdue:+,.2f}`` is a rule's format field.
_SHELL_ONLY = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)([-=?+])([^}]*)\}")

#: A variable in a URL's user:password@ part, whatever the key is called.
_IN_CREDENTIALS = re.compile(r"://[^/@\s]*\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)[^}]*\}[^/@\s]*@")
_LABEL = re.compile(r" \([^)]*\)")  # ``connectors[0] (crm)``: the name IT gave an item

Unused = Callable[[str], bool]


def substitute_env(
    value: Any, environ: Mapping[str, str], source: str, path: str = "", unused: Unused | None = None
) -> Any:
    """Return ``value`` with every ``${NAME}`` in its strings replaced from ``environ``.

    ``unused(path)`` says that the running command never reads that key; a
    variable missing there is replaced by a random value nobody knows rather
    than refused (so it cannot be mistaken for a real key if misused).
    """
    if isinstance(value, str):
        return _substitute_string(value, environ, source, path, unused)
    if isinstance(value, Mapping):
        return {
            key: substitute_env(item, environ, source, _join(path, str(key)), unused)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [
            substitute_env(item, environ, source, f"{path}[{index}]{item_label(item)}", unused)
            for index, item in enumerate(value)
        ]
    return value


def unset_variables(value: Any, environ: Mapping[str, str]) -> list[str]:
    """The variables ``value`` names (at any depth) that are unset and have no default."""
    if isinstance(value, str):
        return [
            m.group(1) for m in _VARIABLE.finditer(value) if m.group(1) not in environ and m.group(2) is None
        ]
    if isinstance(value, Mapping):
        return [name for item in value.values() for name in unset_variables(item, environ)]
    if isinstance(value, list | tuple):
        return [name for item in value for name in unset_variables(item, environ)]
    return []


def is_secret_path(path: str, text: str = "", name: str = "") -> bool:
    """Whether variable ``name`` at this key path (``providers[0].secret``) is, or may hold, a credential.

    Besides keys named like one, a variable inside a URL's ``user:password@``
    part is a credential whatever its key is called.
    """
    keys = re.split(r"[.\[\]]", _LABEL.sub("", path))  # a connector's name says nothing of its keys
    if is_secret_key(tuple(keys)):
        return True
    return any(m.group("name") == name for m in _IN_CREDENTIALS.finditer(text))


def _substitute_string(
    text: str, environ: Mapping[str, str], source: str, path: str, unused: Unused | None
) -> str:
    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        if unused is not None and unused(path):
            return secrets.token_urlsafe(32)
        raise ConfigError(
            f"{source}: {path or '<top>'}: environment variable {name} is not set ({_fix(name, path, text)})"
        )

    substituted = _VARIABLE.sub(replace, text)
    shell_only = _SHELL_ONLY.search(text)
    if shell_only is not None and (unused is None or not unused(path)):
        name, form = shell_only.group(1), shell_only.group(2)
        raise ConfigError(
            f"{source}: {path or '<top>'}: ${{{name}{form}…}} is a shell form screenpop does not read; "
            f"write ${{{name}}}, or ${{{name}:-default}} for a default"
        )
    return substituted


def _fix(name: str, path: str, text: str) -> str:
    """How to set it: a default only for what is not a secret (a default would put it in the file)."""
    if is_secret_path(path, text, name):
        return f"export {name}; this is a secret, so it has no default in the file"
    return f"export it, or write ${{{name}:-default}} to give a default"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key

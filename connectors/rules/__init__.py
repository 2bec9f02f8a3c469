"""The ``rules`` kind: a decision table over the bound parameters; the first rule that holds answers."""

from .connector import Rule, RulesConnector, RulesOptions

__all__ = ["Rule", "RulesConnector", "RulesOptions"]

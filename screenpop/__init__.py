"""screenpop: a caller card from every back-office system, before the agent answers."""

__version__ = "0.1.0"

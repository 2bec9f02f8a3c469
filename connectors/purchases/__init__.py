"""The ``purchases`` kind: likely-next and goes-with advice computed from an order history."""

from .columns import History
from .connector import PurchasesConnector, PurchasesOptions
from .model import Line, PurchaseModel

__all__ = ["History", "Line", "PurchaseModel", "PurchasesConnector", "PurchasesOptions"]

"""The ``purchases`` kind: likely-next and goes-with advice computed from an order history."""

from .connector import PurchasesConnector, PurchasesOptions
from .model import Line, PurchaseModel

__all__ = ["Line", "PurchaseModel", "PurchasesConnector", "PurchasesOptions"]

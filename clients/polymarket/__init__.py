"""Polymarket CLOB V2: EIP-712 and L1/L2 signing (signing), order amounts (orders), typed results (parse, types)
and Polymarket's error texts mapped onto the shared taxonomy (errors), over the shared transport."""

from clients.polymarket.client import PolymarketClient
from clients.polymarket.types import SignedOrder

__all__ = ["PolymarketClient", "SignedOrder"]

"""Kalshi Trade API v2: signed requests (auth), orders as the trader states them (orders), typed results (parse,
types) and Kalshi's error bodies mapped onto the shared taxonomy (errors), over the shared transport."""

from clients.kalshi.client import KalshiClient
from clients.kalshi.orders import OrderSpec

__all__ = ["KalshiClient", "OrderSpec"]

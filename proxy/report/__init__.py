"""`tradetape report`: one self-contained HTML page of sessions on a shared time axis.

Books, orders, answers, fills, positions and exposure per exchange, the engine's decisions, and the list of
fixtures and WebSocket messages beside them. The exchanges' bodies and messages are read with the clients' own
parsers (`kalshi.py`, `poly.py`, `feeds.py`), so the page shows what the bot saw; the rest of the proxy never
imports the clients.
"""

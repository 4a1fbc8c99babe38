"""`tradetape report`: one self-contained HTML page of sessions on a shared time axis.

Books, orders, answers, fills, positions and exposure per exchange, and the request/frame list beside them.
The exchanges' bodies are read with the clients' own parsers (`kalshi.py`, `poly.py`), so the page shows
what the bot saw; the rest of the proxy never imports the clients.
"""

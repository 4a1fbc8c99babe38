"""Async exchange clients: `clients.kalshi` and `clients.polymarket` (mirror images) over one transport
(`clients.transport`), with the shared error taxonomy (`clients.errors`) and results (`clients.types`)."""

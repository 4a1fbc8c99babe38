"""Requests no route serves: each paper exchange answers them in its own JSON error shape, as a client of the
real API expects (aiohttp's default is a plain-text `404: Not Found`)."""

from __future__ import annotations

from aiohttp import web

SIM_ROOT = "/__sim/"  # the admin API keeps aiohttp's answers: it is not an exchange


def unrouted(request: web.Request, exc: web.HTTPException) -> bool:
    """Whether `exc` is the router's own 404 (no such path) or 405 (no such method) for an exchange path."""
    return isinstance(exc, (web.HTTPNotFound, web.HTTPMethodNotAllowed)) and not request.path.startswith(SIM_ROOT)


def allow(exc: web.HTTPException) -> dict[str, str]:
    """A 405's Allow header (the methods the path has), kept on the exchange's answer."""
    return {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else {}

"""The reserved `/__tradetape/` routes: status, and switching what a running proxy does (mode, load, reset).

`proxy.admin.routes.handle` is the handler a command passes to `Proxy(..., admin=handle)`; the engine never
imports this package, so the routes may use anything below them.
"""

"""The proxy itself: listeners in front of upstreams, the flow of one request, modes and their addons, forwarding."""

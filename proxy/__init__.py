"""The recording reverse proxy, one folder per job; README.md, "The proxy's modules", maps them."""

"""Replaying: loading sources, matching and correlating requests, the replay addon, an in-process server, the pytest plugin."""

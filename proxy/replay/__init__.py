"""Replaying: loading sources, matching and correlating requests, the replay addon, in-process server, plugin."""

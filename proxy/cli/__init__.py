"""The `tradetape` command: the click group, shared options, and the record, passthrough, replay and tool commands."""

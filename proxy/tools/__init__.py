"""Tools over recorded sessions: inspect (timeline), fsck, export (HAR), audit."""

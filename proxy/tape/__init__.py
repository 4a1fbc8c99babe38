"""The tape: the fixture and manifest format on disk, and the redaction that keeps secrets off it."""

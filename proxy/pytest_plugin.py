"""pytest plugin: replay fixtures for a test (filled in by the replay work)."""

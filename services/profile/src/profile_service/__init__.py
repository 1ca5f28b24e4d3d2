"""profile service."""

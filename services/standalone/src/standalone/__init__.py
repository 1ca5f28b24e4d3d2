"""Single-process mode."""

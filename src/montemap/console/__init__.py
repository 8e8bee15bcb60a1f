"""montemap.console."""

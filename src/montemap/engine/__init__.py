"""montemap.engine."""

"""montemap.credit."""

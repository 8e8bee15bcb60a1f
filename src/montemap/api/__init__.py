"""montemap.api."""

"""montemap.workers."""

"""montemap.workflows."""

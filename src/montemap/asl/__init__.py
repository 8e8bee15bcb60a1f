"""montemap.asl."""

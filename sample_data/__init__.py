"""Seeded generator of realistic CX data, and small files shaped like real exports."""

"""Presets for real exports, as TOML mapping files (loaded by metrics.ingest.mapping)."""

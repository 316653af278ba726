"""Baseline clients the engine is measured against; each runs as its own process."""

"""Sweeps: a grid of unlearning configurations, scored per sample, stored in DuckDB, certified with LTT."""

"""Benchmarks that run the real gateway against the lab (not part of the test suite)."""

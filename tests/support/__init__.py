"""Helpers of the fuzz and fault suites (the whole chain on real brokers)."""

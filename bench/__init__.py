"""Benchmarks run by hand against a real PostgreSQL server; not part of the test suite."""

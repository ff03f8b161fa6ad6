"""Test and demo helpers that ship with the package (used by `make smoke` and the test suite)."""

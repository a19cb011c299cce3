"""Arcade's benchmarks: `python -m bench --help`, or `make bench` for the whole suite."""

"""Benchmarks: `DEBUG=true python -m bench` (see bench/__main__.py)."""

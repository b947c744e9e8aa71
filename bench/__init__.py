"""Benchmarks and measurements: `make bench` runs them; none is part of `make test`."""

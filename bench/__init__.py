"""Benchmarks of deel-batch (issue 6): `python -m bench` or `make bench`; see bench/README.md."""

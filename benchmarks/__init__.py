"""Benchmarks of bhrdigest against baselines measured in the same run: `python -m benchmarks`."""

"""Scale runs and timings, outside the test suite: ``uv run python -m benchmarks [--quick]``."""

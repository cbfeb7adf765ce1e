"""Benchmarks of the conversation store: pgbench figures and their ratios to raw SQL.

Not part of the test run: ``make bench`` builds a throwaway cluster from the migrations,
measures, prints PASS or MISS against the issue's goals, and wipes the cluster. See
``bench.runner`` for the order and ``bench.config`` for the environment variables.
"""

__all__: list[str] = []

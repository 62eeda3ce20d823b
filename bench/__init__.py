"""`make bench` / `make bench-quick`: every figure of the system beside its floor, measured in the same run.

`python -m bench.run [--quick]` starts what it needs (broker, services, a bare gunicorn app), generates data
at scale with `shared.demo`, measures, writes `bench/results.json`, `bench/results.md` and `bench/*.png`,
and stops every process it started. Design and definitions: docs/decisions/0009-bench.md.
"""

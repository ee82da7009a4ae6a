"""`make bench`: bulkdel against the alternatives, on loopback servers, in one run.

`python -m benchmarks [--quick] [--only SCENARIO,...] [--results PATH]` runs the suite, prints
the tables and writes `benchmarks/RESULTS.md`. Every client (bulkdel and the baselines) runs in
its own process against a server in another process (nginx or the bulkdel simulator).
"""

"""Experiments that compare training methods end to end (docs/benchmarks.md, "Experiment")."""

"""Benchmarks, each printing its figure beside its baseline from the same run."""

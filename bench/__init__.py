"""Benchmarks against named peers; `./dev bench` runs them and writes docs/benchmarks.md."""

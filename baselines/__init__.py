"""Baseline generators, one file each, all behind ``benchmark.generator.Generator``."""

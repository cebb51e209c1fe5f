"""Beside the flow: FELT-shaped synthetic archives (tracking and media) for the sample, tests and benchmarks."""

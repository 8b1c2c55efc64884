"""Regression gates: measure two environments interleaved (`ab`), or one against a stored
baseline with instruction counts and history (`ci`), then compare. The one wing that both
measures and compares."""

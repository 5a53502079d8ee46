"""Differential fuzzing of lossgrad's losses against torch (see docs/reliability.md)."""

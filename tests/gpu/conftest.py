"""Fixtures of the gpu gate: the run's synthetic data (objects and jobs of the sample job)."""

from __future__ import annotations

from filot_gate.synthetic import synthetic  # noqa: F401 - session fixture used by this gate

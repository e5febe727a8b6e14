"""The FiLot OCR worker (seed 001's GPU worker deployment): ``python -m sandbox.worker``.

Configured only by environment variables (``settings.WorkerSettings``); claims OCR jobs from Redis,
runs them through ``sandbox.ocr``, publishes and stores each result, and serves ``GET /health``.
"""

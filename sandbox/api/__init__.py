"""The FiLot API (FastAPI on uvicorn): uploads, results, scoring, BULI2 escalation and callbacks.

``python -m sandbox.api`` serves it with settings from the environment (settings.py); tests and the
sandbox build it in-process with ``sandbox.api.app.create_app(settings, scorer=...)``.
"""

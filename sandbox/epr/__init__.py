"""The sandbox's Entity & Permissions Core (seed 004): one image, two containers of one ECS task.

``python -m sandbox.epr`` serves the API (``GET /healthz`` on ``PORT``); ``python -m sandbox.epr
audit-worker`` runs the audit worker, which consumes the audit queue that the audit SNS topic feeds.
"""

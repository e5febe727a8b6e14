"""A BULI2 simulator: BULI2's side of FiLot's manual-review contract, with fault injection.

``python -m sandbox.buli2``. It accepts escalations (``POST /reviews``, bearer ``BULI2_API_KEY``),
returns a review id, and after ``BULI2_CALLBACK_DELAY_MS`` sends the signed decision to the
escalation's ``callbackUrl`` (FiLot's ``POST /internal/reviews``), retrying with back-off. Its admin
API (``/admin/...``) scripts decisions, injects faults and lists what happened.
"""

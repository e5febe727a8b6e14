"""OCR for the worker: engines behind one small interface, and the KTP / NPWP parsers.

``recognize(document_type, image_bytes, engine)`` is all the worker needs; it never raises for a bad
image, it returns a ``Recognition`` with ``error`` set (a corrupt or non-card image is a failed
result with a reason, not a crash).
"""

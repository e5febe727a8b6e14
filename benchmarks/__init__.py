"""Benchmarks: OCR accuracy (ocr_accuracy) and the performance harness."""

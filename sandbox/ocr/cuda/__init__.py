"""The CUDA OCR engine's parts: PP-OCR's ONNX nets converted to PyTorch, device choice, batching.

Importing this package imports torch: only ``sandbox.ocr.cuda_engine`` (loaded lazily by the engine
registry) does so, so the default CPU-only install never needs torch.
"""

"""The CUDA OCR engine: converted nets equal onnxruntime's, cards read like the RapidOCR engine.

On a machine without torch (the default install, CI) every test here skips: "no CUDA device: torch
not installed (pip install .[gpu])". With torch but no GPU, the conversion and the engine run on the CPU (the same
code, autofallback) and the tests at the end skip: "no CUDA device".

Tolerances: the nets' outputs are probabilities (detection map, classifier, recogniser); fp32 PyTorch
and onnxruntime agree within ABS_TOL on random and on real card input (measured: about 2e-7 for det
and cls, 4e-6 for rec), and the recogniser's best character is the same at every step of every
real line. fp16 on CUDA is held to FP16_ABS_TOL and to the same text.
"""

from __future__ import annotations

import copy
import threading
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="no CUDA device: torch not installed (pip install .[gpu])")
onnx = pytest.importorskip("onnx", reason="no CUDA device: onnx not installed (pip install .[gpu])")

import onnxruntime as ort  # noqa: E402
from PIL import Image  # noqa: E402
from rapidocr.ch_ppocr_det.utils import DetPreProcess  # noqa: E402
from rapidocr.utils.process_img import get_rotate_crop_image  # noqa: E402

from sandbox.ocr.cuda.device import NoCudaDevice, choose_device  # noqa: E402
from sandbox.ocr.cuda.models import ppocr_models  # noqa: E402
from sandbox.ocr.cuda.onnx_module import OnnxModule, with_explicit_pads  # noqa: E402
from sandbox.ocr.cuda.onnx_ops import UnsupportedOnnx  # noqa: E402
from sandbox.ocr.cuda_engine import CudaEngine, EngineConfigError, EngineSettings, bgr  # noqa: E402
from sandbox.ocr.rapid import RapidOcrEngine  # noqa: E402

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ktp"
CARD, SECOND_CARD = FIXTURES / "ktp-clean-001.png", FIXTURES / "npwp-clean-001.png"
ABS_TOL = 1e-4
FP16_ABS_TOL = 2e-2
BOX_TOL_PX = 2
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def _net(task: str) -> tuple[OnnxModule, ort.InferenceSession]:
    path = getattr(ppocr_models(), task)
    return OnnxModule(onnx.load(str(path))).eval(), ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _run_ort(session: ort.InferenceSession, x: np.ndarray) -> np.ndarray:
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def _line_batch(crops: list[np.ndarray], height: int, width: int) -> np.ndarray:
    """rapidocr's recogniser/classifier input: resized to ``height``, normalised, zero-padded."""
    batch = np.zeros((len(crops), 3, height, width), np.float32)
    for i, crop in enumerate(crops):
        w = min(width, int(np.ceil(height * crop.shape[1] / crop.shape[0])))
        resized = np.asarray(Image.fromarray(crop[:, :, ::-1]).resize((w, height), Image.BILINEAR))[:, :, ::-1]
        batch[i, :, :, :w] = (resized.transpose(2, 0, 1).astype(np.float32) / 255 - 0.5) / 0.5
    return batch


@pytest.fixture(scope="module")
def rapid_engine() -> RapidOcrEngine:
    return RapidOcrEngine(threads=2)


@pytest.fixture(scope="module")
def card_reference(rapid_engine: RapidOcrEngine) -> dict:
    """The RapidOCR engine's reading of the card, its BGR pixels and its line crops."""
    image = Image.open(CARD)
    lines = rapid_engine.read_lines(image)
    pixels = bgr(image)
    crops = [
        get_rotate_crop_image(pixels, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32))
        for x0, y0, x1, y1 in (line.box for line in lines)
    ]
    return {"image": image, "lines": lines, "pixels": pixels, "crops": crops}


@pytest.fixture(scope="module")
def cpu_engine() -> CudaEngine:
    engine = CudaEngine(EngineSettings(OCR_GPU_AUTOFALLBACK=True, OCR_CUDA_CPU_WORKERS=2, OCR_CUDA_WARM_UP=False))
    yield engine
    engine.close()


# -- the conversion ---------------------------------------------------------------------------


def test_same_upper_is_rewritten_to_explicit_pads() -> None:
    model = onnx.load(str(ppocr_models().det))
    rewritten = with_explicit_pads(model)
    same = [n.name for n in rewritten.graph.node for a in n.attribute if a.name == "auto_pad" and a.s.startswith(b"SAME")]
    assert same == [], f"expected no SAME auto_pad after the rewrite, found it on {same}"
    x = np.random.default_rng(1).standard_normal((1, 3, 64, 96)).astype(np.float32)
    before = _run_ort(ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]), x)
    after = _run_ort(ort.InferenceSession(rewritten.SerializeToString(), providers=["CPUExecutionProvider"]), x)
    np.testing.assert_array_equal(after, before, err_msg="explicit pads must compute what SAME_UPPER computed")


def test_unsupported_operator_is_named() -> None:
    node = onnx.helper.make_node("Tanh", ["x"], ["y"], name="t0")
    graph = onnx.helper.make_graph(
        [node], "g",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])],
    )
    with pytest.raises(UnsupportedOnnx, match="operator Tanh .*'t0'"):
        OnnxModule(onnx.helper.make_model(graph))


@pytest.mark.parametrize("task,shape", [("det", (1, 3, 160, 224)), ("cls", (5, 3, 48, 192)), ("rec", (3, 3, 48, 320))])
def test_net_matches_onnxruntime_on_random_input(task: str, shape: tuple[int, ...]) -> None:
    module, session = _net(task)
    x = np.random.default_rng(7).standard_normal(shape).astype(np.float32)
    with torch.inference_mode():
        ours = module(torch.from_numpy(x)).numpy()
    theirs = _run_ort(session, x)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=ABS_TOL, err_msg=f"{task} on random input")


@pytest.mark.parametrize("task,shape", [("det", (2, 3, 736, 1184)), ("cls", (4, 3, 48, 192)), ("rec", (4, 3, 48, 640))])
def test_net_runs_off_the_host_without_mixing_devices(task: str, shape: tuple[int, ...]) -> None:
    """On the "meta" device (shapes only, no data) a host tensor meeting a device tensor fails as it
    would on CUDA: this catches, without a GPU, a constant left on the wrong side."""
    module = _net(task)[0].to("meta")
    with torch.inference_mode():
        out = module(torch.empty(shape, device="meta"))
    assert out.device.type == "meta" and out.shape[0] == shape[0]


def test_det_matches_onnxruntime_on_a_card(card_reference: dict) -> None:
    module, session = _net("det")
    resized = DetPreProcess(736, "min").resize(card_reference["pixels"])
    x = ((resized.astype(np.float32) / 255 - 0.5) / 0.5).transpose(2, 0, 1)[np.newaxis].copy()
    with torch.inference_mode():
        ours = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours, _run_ort(session, x), rtol=0, atol=ABS_TOL, err_msg="det map of a card")


@pytest.mark.parametrize("task,height,width", [("cls", 48, 192), ("rec", 48, 640)])
def test_line_nets_match_onnxruntime_on_card_lines(card_reference: dict, task: str, height: int, width: int) -> None:
    module, session = _net(task)
    x = _line_batch(card_reference["crops"], height, width)
    with torch.inference_mode():
        ours = module(torch.from_numpy(x)).numpy()
    theirs = _run_ort(session, x)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=ABS_TOL, err_msg=f"{task} on {len(x)} card lines")
    if task == "rec":
        steps = (ours.argmax(-1) != theirs.argmax(-1)).sum()
        assert steps == 0, f"best character differs at {steps} step(s) of {ours.shape[0] * ours.shape[1]}"


# -- the engine -------------------------------------------------------------------------------


def _texts(lines) -> list[str]:
    return [line.text for line in lines]


def test_engine_reads_a_card_like_the_rapidocr_engine(cpu_engine: CudaEngine, card_reference: dict) -> None:
    assert cpu_engine.device == "cpu"
    ours = cpu_engine.read_lines(card_reference["image"])
    theirs = card_reference["lines"]
    assert _texts(ours) == _texts(theirs)
    worst = max(max(abs(a - b) for a, b in zip(o.box, t.box)) for o, t in zip(ours, theirs))
    assert worst <= BOX_TOL_PX, f"boxes differ by up to {worst} px (expected <= {BOX_TOL_PX})"


def test_a_batch_of_cards_reads_as_each_card_alone(
    cpu_engine: CudaEngine, card_reference: dict, rapid_engine: RapidOcrEngine
) -> None:
    second = Image.open(SECOND_CARD)
    first_lines, second_lines = cpu_engine.read_lines_batch([card_reference["image"], second])
    assert _texts(first_lines) == _texts(card_reference["lines"])
    assert _texts(second_lines) == _texts(rapid_engine.read_lines(second))


def test_concurrent_reads_share_the_gpu_thread(cpu_engine: CudaEngine) -> None:
    blank = Image.new("RGB", (320, 200), "white")
    results: list[list] = []
    threads = [threading.Thread(target=lambda: results.append(cpu_engine.read_lines(blank))) for _ in range(3)]
    before = cpu_engine.batches
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == [[], [], []], "a blank image has no text lines"
    assert 1 <= cpu_engine.batches - before <= 3


def test_without_cuda_and_without_fallback_start_up_refuses() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    with pytest.raises(NoCudaDevice, match="OCR_GPU_AUTOFALLBACK is false"):
        choose_device(0, autofallback=False)


def test_a_bad_setting_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCR_CUDA_PRECISION", "fp8")
    with pytest.raises(EngineConfigError, match="OCR_CUDA_PRECISION='fp8'"):
        EngineSettings.from_env()


# -- on a CUDA device -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gpu_engine() -> CudaEngine:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    engine = CudaEngine(EngineSettings(OCR_GPU_AUTOFALLBACK=False))
    yield engine
    engine.close()


@needs_cuda
def test_engine_runs_on_the_gpu_and_says_so(gpu_engine: CudaEngine) -> None:
    assert gpu_engine.device == "cuda:0"
    name = torch.cuda.get_device_name(0)
    assert any(name in line for line in gpu_engine.startup_lines), gpu_engine.startup_lines
    assert any(line.startswith("nvidia-smi:") for line in gpu_engine.startup_lines), gpu_engine.startup_lines


@needs_cuda
def test_gpu_reads_a_card_like_the_rapidocr_engine(gpu_engine: CudaEngine, card_reference: dict) -> None:
    assert _texts(gpu_engine.read_lines(card_reference["image"])) == _texts(card_reference["lines"])


@needs_cuda
@pytest.mark.parametrize("task", ["det", "rec"])
def test_fp16_nets_stay_close_to_fp32(card_reference: dict, task: str) -> None:
    module, _ = _net(task)
    module = module.to("cuda:0")
    if task == "det":
        resized = DetPreProcess(736, "min").resize(card_reference["pixels"])
        x = ((resized.astype(np.float32) / 255 - 0.5) / 0.5).transpose(2, 0, 1)[np.newaxis].copy()
    else:
        x = _line_batch(card_reference["crops"], 48, 640)
    x = torch.from_numpy(x).to("cuda:0")
    with torch.inference_mode():
        full = module(x).float()
        with torch.autocast("cuda", dtype=torch.float16):
            half = module(x).float()
    worst = (full - half).abs().max().item()
    assert worst <= FP16_ABS_TOL, f"{task}: fp16 differs from fp32 by {worst:.4f} (tolerance {FP16_ABS_TOL})"
    if task == "rec":
        assert torch.equal(full.argmax(-1), half.argmax(-1)), "fp16 changes the best character of some step"


@needs_cuda
def test_gpu_memory_does_not_grow(gpu_engine: CudaEngine, card_reference: dict) -> None:
    cards = [copy.copy(card_reference["image"]) for _ in range(8)]
    gpu_engine.read_lines_batch(cards)
    settled = torch.cuda.memory_reserved(0)
    for _ in range(5):
        gpu_engine.read_lines_batch(cards)
    grown = torch.cuda.memory_reserved(0) - settled
    assert grown <= 64 * 2**20, f"reserved GPU memory grew by {grown / 2**20:.0f} MiB over 5 equal batches"

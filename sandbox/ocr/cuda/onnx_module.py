"""An ONNX graph as a ``torch.nn.Module``: the PP-OCR nets of the rapidocr wheel, run by PyTorch.

Why not onnx2torch: it cannot convert ``auto_pad=SAME_UPPER`` and it imports torchvision, whose PyPI
build does not load beside the CPU build of torch used by the project's tests. The models use about
thirty operators (``onnx_ops``), so a direct conversion is small and fully checked against onnxruntime
(``selftests/test_cuda_engine.py``).

Float constants (weights) become buffers, so ``.to(device)`` moves them; integer constants (shapes,
axes) stay on the host, where the graph's shape arithmetic runs without waiting for the GPU. Each
intermediate tensor is dropped right after its last use, which keeps the peak memory of a large batch
at what the graph needs, not the sum of all its activations.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper

from sandbox.ocr.cuda.onnx_ops import Kernel, NodeSpec, UnsupportedOnnx, build

_SAME = (b"SAME_UPPER", b"SAME_LOWER")


def with_explicit_pads(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` whose ``auto_pad=SAME_*`` windows carry explicit ``pads`` instead.

    With stride 1 the padding of SAME does not depend on the input size: a kernel of k (dilated)
    pixels needs k - 1 pixels of padding, the odd one at the end for SAME_UPPER, at the start for
    SAME_LOWER. Larger strides would need the input size, which a static graph does not have.
    """
    model = copy.deepcopy(model)
    for node in model.graph.node:
        attrs = {a.name: a for a in node.attribute}
        if "auto_pad" not in attrs or attrs["auto_pad"].s not in _SAME:
            continue
        mode = attrs["auto_pad"].s
        kernel = list(helper.get_attribute_value(attrs["kernel_shape"]))
        rank = len(kernel)
        strides = list(helper.get_attribute_value(attrs["strides"])) if "strides" in attrs else [1] * rank
        dilations = list(helper.get_attribute_value(attrs["dilations"])) if "dilations" in attrs else [1] * rank
        if any(s != 1 for s in strides):
            raise UnsupportedOnnx(f"{node.op_type} node {node.name!r}: auto_pad {mode!r} with strides {strides}")
        totals = [(k - 1) * d for k, d in zip(kernel, dilations)]
        small = [t // 2 for t in totals]
        large = [t - s for t, s in zip(totals, small)]
        begins, ends = (small, large) if mode == b"SAME_UPPER" else (large, small)
        node.attribute.remove(attrs["auto_pad"])
        if "pads" in attrs:
            node.attribute.remove(attrs["pads"])
        node.attribute.append(helper.make_attribute("pads", begins + ends))
    return model


def graph_constants(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Every constant of the graph: initializers and the values of ``Constant`` nodes."""
    constants = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            value = next(a for a in node.attribute if a.name == "value")
            constants[node.output[0]] = numpy_helper.to_array(value.t)
    return constants


@dataclass(frozen=True)
class _Step:
    kernel: Kernel
    inputs: tuple[str, ...]
    output: str
    #: Values whose last reader is this step: dropped after it runs.
    release: tuple[str, ...]


class OnnxModule(torch.nn.Module):
    """Runs a single-input, single-output ONNX graph with PyTorch kernels."""

    def __init__(self, model: onnx.ModelProto) -> None:
        super().__init__()
        model = with_explicit_pads(model)
        graph = model.graph
        constants = graph_constants(model)
        if len(graph.output) != 1:
            raise UnsupportedOnnx(f"graph has {len(graph.output)} outputs; one is supported")
        self.input_name = next(i.name for i in graph.input if i.name not in constants)
        self.output_name = graph.output[0].name
        self._buffer_of: dict[str, str] = {}
        self._host: dict[str, torch.Tensor] = {}
        for index, (name, value) in enumerate(constants.items()):
            tensor = torch.from_numpy(np.array(value))
            if tensor.is_floating_point():
                self._buffer_of[name] = f"const_{index}"
                self.register_buffer(f"const_{index}", tensor)
            else:
                self._host[name] = tensor
        self._steps = self._plan(graph, constants)

    def _plan(self, graph: onnx.GraphProto, constants: dict[str, np.ndarray]) -> tuple[_Step, ...]:
        alias: dict[str, str] = {}
        planned: list[tuple[Kernel, tuple[str, ...], str]] = []
        for node in graph.node:
            inputs = tuple(alias.get(name, name) for name in node.input)
            if node.op_type == "Constant":
                continue
            if node.op_type == "Identity":
                alias[node.output[0]] = inputs[0]
                continue
            outputs = [name for name in node.output if name]
            if len(outputs) != 1:
                raise UnsupportedOnnx(f"{node.op_type} node {node.name!r}: {len(outputs)} outputs")
            spec = NodeSpec(
                name=node.name,
                op_type=node.op_type,
                attrs={a.name: helper.get_attribute_value(a) for a in node.attribute},
                inputs=inputs,
                consts=tuple(constants.get(name) for name in inputs),
            )
            kernel, positions = build(spec)
            planned.append((kernel, tuple(inputs[i] for i in positions), outputs[0]))
        self.output_name = alias.get(self.output_name, self.output_name)
        return self._with_releases(planned, set(constants))

    def _with_releases(
        self, planned: list[tuple[Kernel, tuple[str, ...], str]], constants: set[str]
    ) -> tuple[_Step, ...]:
        last_reader: dict[str, int] = {}
        for index, (_, inputs, _) in enumerate(planned):
            for name in inputs:
                last_reader[name] = index
        keep = constants | {self.output_name}
        releases: dict[int, list[str]] = {}
        for name, index in last_reader.items():
            if name not in keep:
                releases.setdefault(index, []).append(name)
        return tuple(
            _Step(kernel, inputs, output, tuple(releases.get(index, ())))
            for index, (kernel, inputs, output) in enumerate(planned)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values: dict[str, torch.Tensor] = dict(self._host)
        values.update((name, getattr(self, attr)) for name, attr in self._buffer_of.items())
        values[self.input_name] = x
        for step in self._steps:
            values[step.output] = step.kernel(*(values[name] for name in step.inputs))
            for name in step.release:
                del values[name]
        return values[self.output_name]

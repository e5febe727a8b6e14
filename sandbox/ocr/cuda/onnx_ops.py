"""The ONNX operators of the PP-OCR models, as PyTorch kernels specialised when the graph is built.

Each builder reads a node's attributes and the inputs that are constants (shapes, axes, scales, clip
bounds) once, and returns a kernel plus the positions of the inputs it needs at run time. Weights are
run-time inputs too: they live as buffers of the module, so that ``.to(device)`` moves them.

Semantics follow the ONNX operator specification at opset 11 (the models' opset); an operator or
attribute outside what these models use raises ``UnsupportedOnnx`` naming it, never a silent guess.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

Kernel = Callable[..., Any]


class UnsupportedOnnx(ValueError):
    """The graph uses an operator or attribute this converter does not implement."""


@dataclass(frozen=True)
class NodeSpec:
    """What a builder may read of one node: its type, attributes and constant inputs."""

    name: str
    op_type: str
    attrs: dict[str, Any]
    #: The input names; "" marks an optional input that is left out.
    inputs: tuple[str, ...]
    #: For each input: its value when it is a graph constant (initializer or Constant node), else None.
    consts: tuple[np.ndarray | None, ...]

    def const(self, index: int) -> np.ndarray | None:
        """The constant value of input ``index``, or None when absent or computed at run time."""
        return self.consts[index] if index < len(self.consts) else None

    def has_input(self, index: int) -> bool:
        return index < len(self.inputs) and self.inputs[index] != ""

    def require_const(self, index: int, what: str) -> np.ndarray:
        value = self.const(index)
        if value is None:
            raise UnsupportedOnnx(f"{self.op_type} node {self.name!r}: {what} must be a constant")
        return value


Built = tuple[Kernel, tuple[int, ...]]
_BUILDERS: dict[str, Callable[[NodeSpec], Built]] = {}

#: ONNX TensorProto data types that the models use, as torch dtypes.
ONNX_DTYPES = {1: torch.float32, 6: torch.int32, 7: torch.int64, 9: torch.bool, 10: torch.float16}


def build(spec: NodeSpec) -> Built:
    """The kernel of one node and the positions of its run-time inputs."""
    builder = _BUILDERS.get(spec.op_type)
    if builder is None:
        raise UnsupportedOnnx(f"operator {spec.op_type} (node {spec.name!r}) is not implemented")
    return builder(spec)


def _op(*names: str) -> Callable[[Callable[[NodeSpec], Built]], Callable[[NodeSpec], Built]]:
    def register(builder: Callable[[NodeSpec], Built]) -> Callable[[NodeSpec], Built]:
        for name in names:
            _BUILDERS[name] = builder
        return builder

    return register


def _present(spec: NodeSpec) -> tuple[int, ...]:
    """All inputs that are given (each becomes a run-time argument)."""
    return tuple(i for i in range(len(spec.inputs)) if spec.has_input(i))


def _elementwise(fn: Kernel, arity: int) -> Callable[[NodeSpec], Built]:
    return lambda spec: (fn, tuple(range(arity)))


for _name, _fn, _arity in (
    ("Add", torch.add, 2),
    ("Sub", torch.sub, 2),
    ("Mul", torch.mul, 2),
    ("Div", torch.div, 2),
    ("Pow", torch.pow, 2),
    ("MatMul", torch.matmul, 2),
    ("Sqrt", torch.sqrt, 1),
    ("Erf", torch.erf, 1),
    ("Relu", torch.relu, 1),
    ("Sigmoid", torch.sigmoid, 1),
):
    _BUILDERS[_name] = _elementwise(_fn, _arity)


def _pads_2d(spec: NodeSpec) -> tuple[int, int, int, int]:
    """ONNX pads (top, left, bottom, right) of a 2-D window op; auto_pad must be rewritten first."""
    auto_pad = spec.attrs.get("auto_pad", b"NOTSET")
    if auto_pad not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
        raise UnsupportedOnnx(
            f"{spec.op_type} node {spec.name!r}: auto_pad={auto_pad!r}; rewrite it to explicit pads "
            "first (onnx_module.with_explicit_pads)"
        )
    pads = list(spec.attrs.get("pads", [0, 0, 0, 0]))
    if len(pads) != 4:
        raise UnsupportedOnnx(f"{spec.op_type} node {spec.name!r}: only 2-D windows are supported")
    return pads[0], pads[1], pads[2], pads[3]


def _pad_arg(pads: tuple[int, int, int, int]) -> tuple[tuple[int, int], tuple[int, int, int, int] | None]:
    """Split ONNX pads into a symmetric torch ``padding`` and an extra F.pad for the asymmetric rest."""
    top, left, bottom, right = pads
    if top == bottom and left == right:
        return (top, left), None
    return (0, 0), (left, right, top, bottom)


@_op("Conv")
def _conv(spec: NodeSpec) -> Built:
    padding, extra = _pad_arg(_pads_2d(spec))
    stride = tuple(spec.attrs.get("strides", [1, 1]))
    dilation = tuple(spec.attrs.get("dilations", [1, 1]))
    groups = spec.attrs.get("group", 1)

    def conv(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
        if extra is not None:
            x = F.pad(x, extra)
        return F.conv2d(x, w, b, stride, padding, dilation, groups)

    return conv, _present(spec)


@_op("ConvTranspose")
def _conv_transpose(spec: NodeSpec) -> Built:
    padding, extra = _pad_arg(_pads_2d(spec))
    if extra is not None or "output_shape" in spec.attrs:
        raise UnsupportedOnnx(f"ConvTranspose node {spec.name!r}: asymmetric pads / output_shape")
    stride = tuple(spec.attrs.get("strides", [1, 1]))
    dilation = tuple(spec.attrs.get("dilations", [1, 1]))
    output_padding = tuple(spec.attrs.get("output_padding", [0, 0]))
    groups = spec.attrs.get("group", 1)

    def conv_transpose(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
        return F.conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation)

    return conv_transpose, _present(spec)


@_op("MaxPool")
def _max_pool(spec: NodeSpec) -> Built:
    padding, extra = _pad_arg(_pads_2d(spec))
    kernel = tuple(spec.attrs["kernel_shape"])
    stride = tuple(spec.attrs.get("strides", [1, 1]))
    ceil_mode = bool(spec.attrs.get("ceil_mode", 0))

    def max_pool(x: torch.Tensor) -> torch.Tensor:
        if extra is not None:  # ONNX pads of a max pool never win: pad with -inf
            x = F.pad(x, extra, value=float("-inf"))
        return F.max_pool2d(x, kernel, stride, padding, ceil_mode=ceil_mode)

    return max_pool, (0,)


@_op("AveragePool")
def _average_pool(spec: NodeSpec) -> Built:
    padding, extra = _pad_arg(_pads_2d(spec))
    if extra is not None:
        raise UnsupportedOnnx(f"AveragePool node {spec.name!r}: asymmetric pads")
    kernel = tuple(spec.attrs["kernel_shape"])
    stride = tuple(spec.attrs.get("strides", [1, 1]))
    ceil_mode = bool(spec.attrs.get("ceil_mode", 0))
    include_pad = bool(spec.attrs.get("count_include_pad", 0))

    def average_pool(x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, kernel, stride, padding, ceil_mode, include_pad)

    return average_pool, (0,)


@_op("GlobalAveragePool")
def _global_average_pool(spec: NodeSpec) -> Built:
    return (lambda x: x.mean(dim=(2, 3), keepdim=True)), (0,)


@_op("ReduceMean")
def _reduce_mean(spec: NodeSpec) -> Built:
    axes = tuple(spec.attrs["axes"])
    keepdim = bool(spec.attrs.get("keepdims", 1))
    return (lambda x: x.mean(dim=axes, keepdim=keepdim)), (0,)


@_op("HardSigmoid")
def _hard_sigmoid(spec: NodeSpec) -> Built:
    alpha = float(spec.attrs.get("alpha", 0.2))
    beta = float(spec.attrs.get("beta", 0.5))
    return (lambda x: torch.clamp(x * alpha + beta, 0.0, 1.0)), (0,)


@_op("Clip")
def _clip(spec: NodeSpec) -> Built:
    low, high = (float(spec.require_const(i, "bound")) if spec.has_input(i) else None for i in (1, 2))
    return (lambda x: torch.clamp(x, low, high)), (0,)


@_op("BatchNormalization")
def _batch_norm(spec: NodeSpec) -> Built:
    eps = float(spec.attrs.get("epsilon", 1e-5))

    def batch_norm(x, scale, bias, mean, var):  # type: ignore[no-untyped-def]
        return F.batch_norm(x, mean, var, scale, bias, training=False, eps=eps)

    return batch_norm, (0, 1, 2, 3, 4)


@_op("Softmax")
def _softmax(spec: NodeSpec) -> Built:
    axis = spec.attrs.get("axis", 1)

    def softmax(x: torch.Tensor) -> torch.Tensor:
        # opset < 13: the input is viewed as 2-D [prod(d[:axis]), prod(d[axis:])]
        start = axis % x.dim()
        if start == x.dim() - 1:
            return torch.softmax(x, dim=-1)
        return torch.softmax(x.flatten(start), dim=-1).reshape(x.shape)

    return softmax, (0,)


@_op("Resize")
def _resize(spec: NodeSpec) -> Built:
    mode = spec.attrs.get("mode", b"nearest")
    transform = spec.attrs.get("coordinate_transformation_mode", b"half_pixel")
    nearest = spec.attrs.get("nearest_mode", b"round_prefer_floor")
    if (mode, transform, nearest) != (b"nearest", b"asymmetric", b"floor"):
        raise UnsupportedOnnx(f"Resize node {spec.name!r}: mode {mode!r}/{transform!r}/{nearest!r}")
    scales = spec.require_const(2, "scales")
    if scales.size != 4 or scales[0] != 1 or scales[1] != 1 or spec.has_input(3):
        raise UnsupportedOnnx(f"Resize node {spec.name!r}: only spatial scales are supported")
    factor = (float(scales[2]), float(scales[3]))
    # torch "nearest" is floor(dst * in/out): ONNX asymmetric + floor
    return (lambda x: F.interpolate(x, scale_factor=factor, mode="nearest")), (0,)


@_op("Concat")
def _concat(spec: NodeSpec) -> Built:
    axis = spec.attrs["axis"]
    return (lambda *xs: torch.cat(xs, dim=axis)), _present(spec)


@_op("Transpose")
def _transpose(spec: NodeSpec) -> Built:
    perm = tuple(spec.attrs["perm"])
    return (lambda x: x.permute(perm)), (0,)


def _target_shape(x: torch.Tensor, shape: Sequence[int]) -> list[int]:
    """ONNX Reshape: 0 copies the input's dimension (allowzero=0), -1 is inferred."""
    return [x.shape[i] if d == 0 else int(d) for i, d in enumerate(shape)]


@_op("Reshape")
def _reshape(spec: NodeSpec) -> Built:
    shape = spec.const(1)
    if shape is not None:
        fixed = [int(d) for d in shape.reshape(-1)]
        return (lambda x: x.reshape(_target_shape(x, fixed))), (0,)
    return (lambda x, s: x.reshape(_target_shape(x, s.tolist()))), (0, 1)


@_op("Shape")
def _shape(spec: NodeSpec) -> Built:
    # shapes stay on the host: the shape arithmetic after them then never waits for the GPU
    return (lambda x: torch.tensor(x.shape, dtype=torch.int64)), (0,)


@_op("Squeeze")
def _squeeze(spec: NodeSpec) -> Built:
    axes = tuple(spec.attrs["axes"])
    return (lambda x: x.squeeze(axes)), (0,)


@_op("Unsqueeze")
def _unsqueeze(spec: NodeSpec) -> Built:
    axes = sorted(spec.attrs["axes"])

    def unsqueeze(x: torch.Tensor) -> torch.Tensor:
        for axis in axes:
            x = x.unsqueeze(axis)
        return x

    return unsqueeze, (0,)


@_op("Slice")
def _slice(spec: NodeSpec) -> Built:
    starts = spec.require_const(1, "starts").tolist()
    ends = spec.require_const(2, "ends").tolist()
    axes = spec.require_const(3, "axes").tolist() if spec.has_input(3) else list(range(len(starts)))
    steps = spec.require_const(4, "steps").tolist() if spec.has_input(4) else [1] * len(starts)
    if any(step != 1 for step in steps):
        raise UnsupportedOnnx(f"Slice node {spec.name!r}: steps {steps}")
    limit = np.iinfo(np.int64).max

    def slice_(x: torch.Tensor) -> torch.Tensor:
        index: list[slice] = [slice(None)] * x.dim()
        for start, end, axis in zip(starts, ends, axes):
            index[axis] = slice(start, None if end >= limit else end)
        return x[tuple(index)]

    return slice_, (0,)


@_op("Cast")
def _cast(spec: NodeSpec) -> Built:
    to = spec.attrs["to"]
    if to not in ONNX_DTYPES:
        raise UnsupportedOnnx(f"Cast node {spec.name!r}: to={to}")
    dtype = ONNX_DTYPES[to]
    return (lambda x: x.to(dtype)), (0,)

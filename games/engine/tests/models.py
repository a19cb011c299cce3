"""Small ONNX models built on the spot with onnx.helper (nothing is downloaded), for the
policies' tests and bench/policies.py. Weights are random: these models check plumbing and
speed, not play."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
FLOAT, UINT8, DOUBLE = TensorProto.FLOAT, TensorProto.UINT8, TensorProto.DOUBLE
Dims = Sequence[int | str]


def _serialise(
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    output: onnx.ValueInfoProto,
    weights: list[onnx.TensorProto],
) -> bytes:
    graph = helper.make_graph(nodes, "policy", inputs, [output], initializer=weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8  # what every onnxruntime since 1.14 reads
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _weight(rng: np.random.Generator, name: str, *shape: int) -> onnx.TensorProto:
    """He-scaled weights; a bias (one dimension) starts at 0, so the input decides."""
    if len(shape) == 1:
        return numpy_helper.from_array(np.zeros(shape, np.float32), name)
    values = rng.normal(0, np.sqrt(2 / np.prod(shape[1:])), shape).astype(np.float32)
    return numpy_helper.from_array(values, name)


def _scaled_input(dtype: int, nodes: list[onnx.NodeProto]) -> str:
    """The observation as float32 in 0..1, whichever type the model takes."""
    source = "obs"
    if dtype != FLOAT:
        nodes.append(helper.make_node("Cast", ["obs"], ["obs_float"], to=FLOAT))
        source = "obs_float"
    nodes.append(helper.make_node("Div", [source, "scale"], ["scaled"]))
    return "scaled"


def nature_dqn(n_actions: int, *, dtype: int = FLOAT, batch: int | str = 1, seed: int = 0) -> bytes:
    """Mnih et al. (2015)'s network over the Atari spec (4 x 84 x 84): 1.69 M parameters."""
    convs = [(32, 4, 8, 4), (64, 32, 4, 2), (64, 64, 3, 1)]
    return _atari_cnn(n_actions, convs, 3136, 512, dtype=dtype, batch=batch, seed=seed)


def nips_dqn(n_actions: int, *, dtype: int = FLOAT, batch: int | str = 1, seed: int = 0) -> bytes:
    """Mnih et al. (2013)'s smaller network over the Atari spec: conv 16x8x8/4, conv 32x4x4/2,
    fc 256; 0.68 M parameters."""
    convs = [(16, 4, 8, 4), (32, 16, 4, 2)]
    return _atari_cnn(n_actions, convs, 2592, 256, dtype=dtype, batch=batch, seed=seed)


ATARI_MODELS = {"nature": nature_dqn, "nips": nips_dqn}


def _atari_cnn(
    n_actions: int,
    convs: list[tuple[int, int, int, int]],  # out, in, kernel, stride
    flat: int,
    hidden: int,
    *,
    dtype: int,
    batch: int | str,
    seed: int,
) -> bytes:
    """Convolutions with ReLUs, a hidden fully connected layer, one output per action."""
    rng = np.random.default_rng(seed)
    nodes: list[onnx.NodeProto] = []
    x = _scaled_input(dtype, nodes)
    weights = [numpy_helper.from_array(np.array(255, np.float32), "scale")]
    for i, (out, inp, kernel, stride) in enumerate(convs):
        weights += [_weight(rng, f"w{i}", out, inp, kernel, kernel), _weight(rng, f"b{i}", out)]
        nodes.append(
            helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [f"c{i}"], strides=[stride, stride])
        )
        nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"]))
        x = f"r{i}"
    nodes.append(helper.make_node("Flatten", [x], ["flat"]))
    weights += [_weight(rng, "wh", hidden, flat), _weight(rng, "bh", hidden)]
    weights += [_weight(rng, "wq", n_actions, hidden), _weight(rng, "bq", n_actions)]
    nodes.append(helper.make_node("Gemm", ["flat", "wh", "bh"], ["h"], transB=1))
    nodes.append(helper.make_node("Relu", ["h"], ["hr"]))
    nodes.append(helper.make_node("Gemm", ["hr", "wq", "bq"], ["q"], transB=1))
    return _serialise(
        nodes,
        [helper.make_tensor_value_info("obs", dtype, [batch, 4, 84, 84])],
        helper.make_tensor_value_info("q", FLOAT, [batch, n_actions]),
        weights,
    )


def linear(
    n_actions: int, shape: Dims, *, dtype: int = UINT8, seed: int = 0, extra_input: bool = False
) -> bytes:
    """One Gemm over the flattened observation (e.g. the RAM: ``shape`` [1, 128])."""
    rng = np.random.default_rng(seed)
    size = int(np.prod([d for d in shape if isinstance(d, int) and d > 1]))
    nodes: list[onnx.NodeProto] = []
    x = _scaled_input(dtype, nodes)
    nodes.append(helper.make_node("Reshape", [x, "rows"], ["flat"]))
    nodes.append(helper.make_node("Gemm", ["flat", "w", "b"], ["q"], transB=1))
    weights = [
        numpy_helper.from_array(np.array(255, np.float32), "scale"),
        numpy_helper.from_array(np.array([-1, size], np.int64), "rows"),
        _weight(rng, "w", n_actions, size),
        _weight(rng, "b", n_actions),
    ]
    inputs = [helper.make_tensor_value_info("obs", dtype, list(shape))]
    if extra_input:
        inputs.append(helper.make_tensor_value_info("hidden", FLOAT, [1, 16]))
    return _serialise(
        nodes, inputs, helper.make_tensor_value_info("q", FLOAT, [shape[0], n_actions]), weights
    )


def ram_mlp(
    n_actions: int, *, dtype: int = UINT8, batch: int | str = 1, seed: int = 0, hidden: int = 256
) -> bytes:
    """A RAM agent's network: the 128 bytes through one hidden layer of ``hidden`` (ReLU) to
    one score per action (33 K parameters at 256)."""
    rng = np.random.default_rng(seed)
    nodes: list[onnx.NodeProto] = []
    x = _scaled_input(dtype, nodes)
    nodes += [
        helper.make_node("Gemm", [x, "w0", "b0"], ["h"], transB=1),
        helper.make_node("Relu", ["h"], ["hr"]),
        helper.make_node("Gemm", ["hr", "w1", "b1"], ["q"], transB=1),
    ]
    weights = [
        numpy_helper.from_array(np.array(255, np.float32), "scale"),
        _weight(rng, "w0", hidden, 128),
        _weight(rng, "b0", hidden),
        _weight(rng, "w1", n_actions, hidden),
        _weight(rng, "b1", n_actions),
    ]
    return _serialise(
        nodes,
        [helper.make_tensor_value_info("obs", dtype, [batch, 128])],
        helper.make_tensor_value_info("q", FLOAT, [batch, n_actions]),
        weights,
    )


def failing_on_run(shape: Dims) -> bytes:
    """Loads, but cannot run: reshapes its 128-byte observation into rows of 3."""
    nodes = [helper.make_node("Reshape", ["obs", "rows"], ["q"])]
    rows = numpy_helper.from_array(np.array([-1, 3], np.int64), "rows")
    return _serialise(
        nodes,
        [helper.make_tensor_value_info("obs", UINT8, list(shape))],
        helper.make_tensor_value_info("q", UINT8, ["n", 3]),
        [rows],
    )


def slow_ram(n_actions: int, *, layers: int = 20) -> bytes:
    """A RAM model that computes for a while (about 1 ms a layer): 128 x 512 activations
    through ``layers`` 512 x 512 matrix products."""
    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("Cast", ["obs"], ["x"], to=FLOAT),
        helper.make_node("Transpose", ["x"], ["column"]),  # 128 x 1
        helper.make_node("MatMul", ["column", "spread"], ["h0"]),  # 128 x 512
    ]
    for i in range(layers):
        nodes.append(helper.make_node("MatMul", [f"h{i}", "w"], [f"m{i}"]))
        nodes.append(helper.make_node("Tanh", [f"m{i}"], [f"h{i + 1}"]))
    nodes.append(helper.make_node("ReduceMean", [f"h{layers}"], ["pooled"], axes=[0]))
    nodes.append(helper.make_node("Gemm", ["pooled", "out", "b"], ["q"], transB=1))
    weights = [
        numpy_helper.from_array(np.full((1, 512), 1 / 255, np.float32), "spread"),
        _weight(rng, "w", 512, 512),
        _weight(rng, "out", n_actions, 512),
        _weight(rng, "b", n_actions),
    ]
    return _serialise(
        nodes,
        [helper.make_tensor_value_info("obs", UINT8, [1, 128])],
        helper.make_tensor_value_info("q", FLOAT, [1, n_actions]),
        weights,
    )

"""Multiply-accumulate operations (MACs) of a Keras model, per example.

MACs are what "300M multiply-adds" means in the MobileNetV2 paper: one
multiplication and the addition that accumulates it. They are computed from the
layers' kernel shapes and the shapes their calls produced, without running the
model, so the figure is exact for the layers below and the same on Keras 3 and
tf_keras:

- `Dense`: `positions * prod(kernel shape)`, the kernel being
  `(in_features, units)` and positions the product of the output's axes
  between batch and features (1 for a `(batch, units)` output).
- `Conv1D/2D/3D`: `output positions * prod(kernel shape)`, the kernel being
  `(*kernel_size, in_channels / groups, filters)`.
- `DepthwiseConv1D/2D`: `output positions * prod(kernel shape)`, the kernel
  being `(*kernel_size, in_channels, depth_multiplier)`.
- `SeparableConv1D/2D`: `output positions * (prod(depthwise kernel) +
  prod(pointwise kernel))`.
- `Conv1D/2D/3DTranspose`: `input positions * prod(kernel shape)`: every input
  position meets the whole kernel.

- `SimpleRNN`, `GRU`, `LSTM` (any `RNN` of their cells): `steps *
  (prod(kernel) + prod(recurrent kernel))`, the input and recurrent matrix
  products of each time step, the kernels being `(features, gates * units)`
  and `(units, gates * units)` with 1, 3 and 4 gates. Inside `Bidirectional`,
  the forward and backward layers' sums.
- `EinsumDense`: the product of the sizes of every index of its equation but
  the batch axis (each output value sums over the contracted indices).
- `MultiHeadAttention` (Vaswani et al. 2017): the query, key, value and output
  projections (`positions * prod(kernel)`, query-side ones over the query's
  positions, key and value ones over the value's), plus `heads * query
  positions * value positions * (key_dim + value_dim)` for the scores `Q K^T`
  and their weighted sum of the values (per attention axis group, with
  `attention_axes`).

Pruning and quantization-aware layers (TF-MOT's wrappers, keras_distill's
`FusedQuantize`, `QuantizedEinsumDense`, the recurrent and attention layers of
its QAT engine) count as the layer they compute; fake-quantizers count 0.
Biases, batch normalization, activations, pooling, additions, a recurrent
step's gate products, the attention softmax and the like count 0: they are
additions or one multiplication per value, far fewer than the layers above. A
layer with weights that none of the rows covers (a custom layer or RNN cell)
also counts 0, and `macs_by_layer` marks it `counted=False`, so a table can say
what is missing.
"""

import dataclasses
import math

import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter
from ai_edge_litert.interpreter import OpResolverType

from keras_distill import _compat
from keras_distill._compat import keras
from keras_distill.compress import _engine


@dataclasses.dataclass(frozen=True)
class LayerMACs:
    """The MACs of one layer, summed over its calls in the model.

    Attributes:
        name: the layer's path, nested models joined by `/` (e.g.
            `"mobilenetv2_1.00_224/Conv1"`).
        class_name: the layer's class, e.g. `"DepthwiseConv2D"`.
        macs: multiply-accumulates per example.
        counted: False for a layer with weights whose MACs this module does not
            know; its `macs` is 0 and the total is a lower bound.
    """

    name: str
    class_name: str
    macs: int
    counted: bool = True


def _layer_classes(*names: str) -> tuple:
    return tuple(
        cls for cls in (getattr(keras.layers, name, None) for name in names) if cls
    )


# Checked in this order: on tf_keras, Conv2DTranspose subclasses Conv2D.
_TRANSPOSE = _layer_classes("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")
_SEPARABLE = _layer_classes("SeparableConv1D", "SeparableConv2D")
_DEPTHWISE = _layer_classes("DepthwiseConv1D", "DepthwiseConv2D")
_CONV = _layer_classes("Conv1D", "Conv2D", "Conv3D")
_RNN_CELLS = _layer_classes("SimpleRNNCell", "GRUCell", "LSTMCell")
# Layers with weights that do no multiply-accumulate worth counting.
_NO_MACS = _layer_classes(
    "BatchNormalization",
    "LayerNormalization",
    "GroupNormalization",
    "UnitNormalization",
    "Normalization",
    "Embedding",
    "PReLU",
)
# Fake-quantizers of a QAT model (ours on Keras 3, TF-MOT's): their weights are
# ranges, and they do one multiplication per value.
_QUANTIZERS = ("ActivationQuantizer", "QuantizeLayer")


def _flat_shapes(tensors) -> list[tuple]:
    return [tuple(t.shape) for t in tf.nest.flatten(tensors)]


def _calls(layer) -> list[tuple[tuple, tuple]]:
    """(input shape, output shape) of every call of `layer` in a model graph."""
    calls = []
    for node in _compat.inbound_nodes(layer):
        inputs, outputs = _flat_shapes(node.input_tensors), _flat_shapes(node.outputs)
        if inputs and outputs:
            calls.append((inputs[0], outputs[0]))
    return calls


def _positions(shape: tuple, data_format: str | None, path: str) -> int:
    """Product of the spatial axes (or all non-feature axes for Dense)."""
    axes = shape[2:] if data_format == "channels_first" else shape[1:-1]
    if any(d is None for d in axes):
        raise ValueError(
            f"Layer {path!r} has the free spatial dimensions {shape}; MACs need "
            "fixed ones. Build the model with a fixed input shape, e.g. "
            "`keras.Input((32, 32, 3))`."
        )
    return math.prod(int(d) for d in axes)


def _size(weight) -> int:
    return math.prod(int(d) for d in weight.shape)


def _fixed(dims, path: str, what: str) -> int:
    if any(d is None for d in dims):
        raise ValueError(
            f"Layer {path!r} has a free {what} ({tuple(dims)}); MACs need fixed "
            "ones. Build the model with a fixed input shape, e.g. "
            "`keras.Input((40, 1))`."
        )
    return math.prod(int(d) for d in dims)


def _recurrent_macs(layer, input_shape, path) -> int | None:
    """Steps x (x W + h U) of a SimpleRNN, GRU or LSTM; None for other cells."""
    cell = getattr(layer, "cell", None)
    if not isinstance(cell, _RNN_CELLS):
        return None
    steps = input_shape[0 if getattr(layer, "time_major", False) else 1]
    steps = _fixed([steps], path, "number of time steps")
    return steps * (_size(cell.kernel) + _size(cell.recurrent_kernel))


def _einsum_macs(equation: str, input_shape, kernel_shape, path) -> int | None:
    """Product of every index size of `equation` but the input's batch axis."""
    inputs, rest = equation.split(",")
    kernel = rest.split("->")[0]
    if "..." in kernel:
        return None
    if "..." in inputs:
        # Labels outside a-zA-Z, one per axis the ellipsis stands for.
        extra = len(input_shape) - (len(inputs) - 3)
        inputs = inputs.replace("...", "".join(chr(0x100 + i) for i in range(extra)))
    sizes = dict(zip(inputs[1:], input_shape[1:]))
    sizes.update(zip(kernel, kernel_shape))
    return _fixed(list(sizes.values()), path, "dimension in its einsum")


def _kernel(dense):
    """An EinsumDense's kernel; a `QuantizedEinsumDense` holds it in `.layer`."""
    return dense.layer.kernel if _is_quantized_einsum(dense) else dense.kernel


def _attention_macs(layer, query_shape, value_shape, path) -> int:
    """Projections, `Q K^T` and the weighted sum of `V` of one attention call."""
    dense = _compat.attention_projections(layer)
    query_positions = _fixed(query_shape[1:-1], path, "query dimension")
    value_positions = _fixed(value_shape[1:-1], path, "value dimension")
    query_side = sum(
        _size(_kernel(dense[name]))
        for name in ("query_dense", "output_dense", "gate_dense")
        if name in dense
    )
    value_side = _size(_kernel(dense["key_dense"])) + _size(
        _kernel(dense["value_dense"])
    )
    heads, key_dim = _kernel(dense["query_dense"]).shape[-2:]
    value_dim = _kernel(dense["value_dense"]).shape[-1]
    axes = layer.get_config().get("attention_axes")
    if axes is None:
        axes = range(1, len(value_shape) - 1)
    attended = _fixed([value_shape[axis] for axis in axes], path, "value dimension")
    attention = int(heads) * query_positions * attended
    return (
        query_positions * query_side
        + value_positions * value_side
        + attention * (int(key_dim) + int(value_dim))
    )


def _macs_of_call(layer, input_shape, output_shape, path) -> int | None:
    """MACs of one call, or None for a layer with weights we do not count."""
    data_format = getattr(layer, "data_format", None)
    if isinstance(layer, keras.layers.Bidirectional):
        both = [
            _recurrent_macs(inner, input_shape, path)
            for inner in (layer.forward_layer, layer.backward_layer)
        ]
        return None if None in both else sum(both)
    if isinstance(layer, keras.layers.RNN):
        return _recurrent_macs(layer, input_shape, path)
    if isinstance(layer, keras.layers.EinsumDense):
        equation = layer.get_config()["equation"]
        return _einsum_macs(equation, input_shape, layer.kernel.shape, path)
    if isinstance(layer, _TRANSPOSE):
        return _positions(input_shape, data_format, path) * _size(layer.kernel)
    if isinstance(layer, _SEPARABLE):
        kernels = _size(layer.depthwise_kernel) + _size(layer.pointwise_kernel)
        return _positions(output_shape, data_format, path) * kernels
    if isinstance(layer, _DEPTHWISE):
        # tf_keras names it `depthwise_kernel`, Keras 3 `kernel`.
        kernel = getattr(layer, "depthwise_kernel", None)
        if kernel is None:
            kernel = layer.kernel
        return _positions(output_shape, data_format, path) * _size(kernel)
    if isinstance(layer, _CONV):
        return _positions(output_shape, data_format, path) * _size(layer.kernel)
    if isinstance(layer, keras.layers.Dense):
        return _positions(output_shape, None, path) * _size(layer.kernel)
    if (
        isinstance(layer, _NO_MACS)
        or type(layer).__name__ in _QUANTIZERS
        or not layer.weights
    ):
        return 0
    return None


def _computes_its_inner_layer(layer) -> bool:
    """Pruning and QAT wrappers: they compute what `layer.layer` does.

    TF-MOT's are Keras `Wrapper`s; keras_distill's Keras 3 QAT layer,
    `FusedQuantize`, is a plain layer holding the Conv or Dense it quantizes
    (with a BatchNormalization folded in, which counts 0 anyway).
    """
    if isinstance(layer, keras.layers.Wrapper):
        return not isinstance(layer, keras.layers.Bidirectional)
    return _engine.is_fused_quantize(layer) or _is_quantized_einsum(layer)


def _is_quantized_einsum(layer) -> bool:
    """Our Keras 3 QAT engine's `QuantizedEinsumDense` (the float one in `.layer`)."""
    if _compat.LEGACY_KERAS:
        return False
    from keras_distill.compress._keras3.quantized_einsum_dense import (
        QuantizedEinsumDense,
    )

    return isinstance(layer, QuantizedEinsumDense)


def _walk(layer, path: str, rows: list, calls=None) -> None:
    if isinstance(layer, keras.Model) and getattr(layer, "layers", None):
        for inner in layer.layers:
            _walk(inner, f"{path}/{inner.name}" if path else inner.name, rows)
        return
    calls = _calls(layer) if calls is None else calls
    if _computes_its_inner_layer(layer):
        _walk(layer.layer, path, rows, calls)
        return
    if isinstance(layer, keras.layers.MultiHeadAttention):
        total = sum(
            _attention_macs(layer, query, value, path)
            for query, value in _compat.attention_calls(layer)
        )
        rows.append(LayerMACs(path, type(layer).__name__, int(total)))
        return
    total, counted = 0, True
    for input_shape, output_shape in calls:
        macs = _macs_of_call(layer, input_shape, output_shape, path)
        if macs is None:
            counted = False
        else:
            total += macs
    rows.append(LayerMACs(path, type(layer).__name__, int(total), counted))


def macs_by_layer(model) -> list[LayerMACs]:
    """The multiply-accumulates per example of each layer of a Keras model.

    Use it to see where a model spends its compute, or which layers
    `count_macs` could not count. Nested models (e.g. a
    `keras.applications.MobileNetV2` inside a Functional model) are opened, and
    each inner layer is listed under its path. A layer called several times
    (shared weights) counts every call.

    Args:
        model: a built Keras model (Functional, or Sequential with an `Input`)
            with a fixed input shape apart from the batch axis.

    Returns:
        One `LayerMACs` per layer, in model order (nested layers in place of
        their model).

    Raises:
        TypeError: `model` is not a Keras model of the flavour in use.
        ValueError: `model` is None, or a counted layer has free spatial
            dimensions.

    Example:

    >>> model = keras.Sequential([keras.Input((8, 8, 3)),
    ...                           keras.layers.Conv2D(4, 3, padding="same")])
    >>> [row.macs for row in macs_by_layer(model)]  # doctest: +SKIP
    [6912]
    """
    _compat.check_model(model, "model")
    rows: list[LayerMACs] = []
    for layer in model.layers:
        _walk(layer, layer.name, rows)
    return rows


def count_macs(model) -> int:
    """Multiply-accumulate operations (MACs) of one example through a Keras model.

    MACs are the usual measure of a model's compute ("300M multiply-adds" for
    MobileNetV2 at 224x224): one multiplication and its accumulation. `Dense`,
    `Conv1D/2D/3D`, `DepthwiseConv1D/2D`, `SeparableConv1D/2D`,
    `Conv1D/2D/3DTranspose`, `EinsumDense`, `SimpleRNN`, `GRU`, `LSTM` (every
    time step; both directions in `Bidirectional`) and `MultiHeadAttention`
    (projections, `Q K^T` and the weighted sum of the values) are counted from
    their kernel shapes and the shapes of their calls; every other layer
    counts 0 (see `macs_by_layer` for the list, and the module docstring for
    the formulas). The count does not depend
    on quantization: an int8 file does the same MACs in int8.

    Args:
        model: a built Keras model (Functional, or Sequential with an `Input`;
            nested models are opened) with a fixed input shape apart from the
            batch axis.

    Returns:
        The MACs per example, an int.

    Raises:
        TypeError: `model` is not a Keras model of the flavour in use.
        ValueError: `model` is None, or a counted layer has free spatial
            dimensions.

    Example:

    >>> model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32),
    ...                           keras.layers.Dense(10)])
    >>> count_macs(model)  # doctest: +SKIP
    2368
    """
    return sum(row.macs for row in macs_by_layer(model))


# op name -> (index of the weights input, whether positions come from the input)
_TFLITE_MAC_OPS = {
    "CONV_2D": (1, False),
    "CONV_3D": (1, False),
    "DEPTHWISE_CONV_2D": (1, False),
    "FULLY_CONNECTED": (1, False),
    "TRANSPOSE_CONV": (1, True),
}


def count_tflite_macs(content: bytes) -> int:
    """Multiply-accumulates of one example through a `.tflite` file, from its ops.

    The same counting as `count_macs`, read from the file: `CONV_2D`,
    `CONV_3D`, `DEPTHWISE_CONV_2D`, `FULLY_CONNECTED` and `TRANSPOSE_CONV`
    count output (input, for `TRANSPOSE_CONV`) positions times the size of
    their weights tensor; other ops count 0. Use it for a file whose Keras
    model is gone, or to check that conversion kept the compute: float32,
    float16 and int8 files of one model give the same count, equal to
    `count_macs` of the model when the converter does not fold layers away.

    Args:
        content: the bytes of a `.tflite` file with one input; a free batch
            axis is set to 1.

    Returns:
        The MACs per example, an int.

    Raises:
        ValueError: not a valid `.tflite` file, or free spatial dimensions.

    Example:

    >>> count_tflite_macs(convert_tflite(model)) == count_macs(model)  # doctest: +SKIP
    True
    """
    # Without the default delegate, so every op of the file stays a node.
    try:
        interpreter = Interpreter(
            model_content=content,
            experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )
    except ValueError as err:
        raise ValueError(f"`content` is not a valid .tflite model: {err}") from err
    detail = interpreter.get_input_details()[0]
    signature = detail["shape_signature"]
    if any(d < 0 for d in signature[1:]):
        raise ValueError(
            f"The file's input has free dimensions {list(signature)}; MACs need "
            "fixed ones. Convert a model built with a fixed input shape."
        )
    interpreter.resize_tensor_input(detail["index"], [1, *signature[1:]])
    interpreter.allocate_tensors()
    # The shapes after a RESHAPE with a computed shape (a Dense on tokens) are
    # only known once the file has run: before, they are the converter's
    # placeholders (e.g. (1, 1)) and the ops after them would count too few.
    interpreter.set_tensor(
        detail["index"], np.zeros([1, *signature[1:]], dtype=detail["dtype"])
    )
    interpreter.invoke()
    shapes = {t["index"]: tuple(t["shape"]) for t in interpreter.get_tensor_details()}
    total = 0
    for op in interpreter._get_ops_details():
        if op["op_name"] not in _TFLITE_MAC_OPS:
            continue
        weights_at, from_input = _TFLITE_MAC_OPS[op["op_name"]]
        weights = shapes[op["inputs"][weights_at]]
        # TRANSPOSE_CONV's inputs are (output_shape, weights, input).
        activations = shapes[op["inputs"][2] if from_input else op["outputs"][0]]
        positions = math.prod(int(d) for d in activations[:-1])
        total += positions * math.prod(int(d) for d in weights)
    return total

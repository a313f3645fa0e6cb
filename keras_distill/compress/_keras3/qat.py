"""Quantization-aware training (QAT) for Keras 3, which has no QAT API.

TF-MOT only works with tf_keras, so on Keras 3 keras_distill inserts the
fake quantization itself, following Jacob et al. 2018 (arXiv:1712.05877) as
TFLite executes it: int8 symmetric weights (per channel for convolutions, per
tensor for Dense), int8 asymmetric per-tensor activations (TF-MOT's default
8-bit quantizers), BatchNormalization folded into the Conv or Dense before it
and ReLU/ReLU6 fused, so the model trains on the numbers the int8 `.tflite`
kernels will compute. The folding is TF contrib's (batch statistics first,
the moving ones frozen after `freeze_bn_delay` steps; see
`quantizers.FusedQuantize`); TF-MOT's default 8-bit scheme does not fold
BatchNormalization in training.

Why wrapper layers rebuilt into the graph, like TF-MOT's `QuantizeWrapper`,
rather than Keras 3's in-layer `quantize()`: a fused group (Conv2D, its
BatchNormalization and its ReLU6) is one int8 kernel in TFLite, so it must be
one layer holding both originals, which no single layer's `quantize()` can do;
and Keras 3's in-layer int8 mode is post-training, with no fake quantization to
train through. The rebuild is `keras.models.clone_model(..., call_function=)`:
a first pass finds the fusion groups, the second rewires each call.

Sequence layers get quantized layers of their own (each module cites its
recipe and gives what the converter made of it): `QuantizedEmbedding` (int8
table, int8 GATHER), `QuantizedEinsumDense`, `QuantizedMultiHeadAttention`
(I-BERT, arXiv:2101.01321: int8 projections, QK^T, softmax and PV), and
`keras.layers.RNN` of a `QuantizedLSTMCell`/`QuantizedGRUCell`/
`QuantizedSimpleRNNCell` (int8 kernels and projections, float gates and cell
state), and a `Bidirectional` of two such RNNs (its merge is float).
LayerNormalization is kept float: LiteRT has no int8 kernel for it.

The converter (`Optimize.DEFAULT`, no representative data) reads the trained
ranges from the FakeQuant ops, so a QAT model exports as int8 without
calibration data. The activation ranges come from training batches (see
`quantizers.ActivationQuantizer`); `calibrate` sets them without training.
"""

import numpy as np

from keras_distill import _compat
from keras_distill._compat import keras
from keras_distill.compress import _layers
from keras_distill.compress._keras3.quantized_einsum_dense import QuantizedEinsumDense
from keras_distill.compress._keras3.quantized_embedding import QuantizedEmbedding
from keras_distill.compress._keras3.quantized_multi_head_attention import (
    QuantizedMultiHeadAttention,
)
from keras_distill.compress._keras3.quantized_recurrent import QuantizedGRUCell
from keras_distill.compress._keras3.quantized_recurrent import QuantizedLSTMCell
from keras_distill.compress._keras3.quantized_recurrent import QuantizedSimpleRNNCell
from keras_distill.compress._keras3.quantizers import FREEZE_BN_DELAY
from keras_distill.compress._keras3.quantizers import ActivationQuantizer
from keras_distill.compress._keras3.quantizers import FusedQuantize
from keras_distill.compress._keras3.quantizers import check_freeze_bn_delay

__all__ = ["calibrate", "is_qat_model", "quantizable", "quantize"]


def _classes(*names: str) -> tuple:
    return tuple(getattr(keras.layers, n) for n in names if hasattr(keras.layers, n))


# Weighted layers that become one FusedQuantize (with what follows them).
_FUSED_OPS = _classes("Conv1D", "Conv2D", "DepthwiseConv2D", "Dense")
# Weightless layers computed in int8 by TFLite: their output gets a quantizer.
_OUTPUT_QUANTIZED = _classes(
    "Add",
    "Concatenate",
    "Multiply",
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling3D",
    "ReLU",
    "Activation",
    "Softmax",
)
# Layers that move or pick values: their output keeps their input's quantization.
_PASS_THROUGH = _classes(
    "InputLayer",
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling3D",
    "Reshape",
    "Flatten",
    "Dropout",
    "ZeroPadding1D",
    "ZeroPadding2D",
    "ZeroPadding3D",
    "Cropping1D",
    "Cropping2D",
    "Cropping3D",
)
# Weighted layers each replaced by one quantized layer of their own.
_WRAPPED = _classes(
    "Embedding",
    "EinsumDense",
    "MultiHeadAttention",
    "LSTM",
    "GRU",
    "SimpleRNN",
    "Bidirectional",
)
# The recurrent layers (alone or in a Bidirectional) and their quantized cells.
_RECURRENT_CELLS = {
    keras.layers.LSTM: QuantizedLSTMCell,
    keras.layers.GRU: QuantizedGRUCell,
    keras.layers.SimpleRNN: QuantizedSimpleRNNCell,
}
# Weighted layers kept float by design (measured and documented in
# docs/compression.md): LiteRT has no int8 LayerNormalization kernel, the
# converter decomposes it into MEAN/SUB/RSQRT/MUL ops, which 8-bit ranges would
# make much less exact (I-BERT computes it with 32-bit integers instead).
_KEPT_FLOAT = _classes("LayerNormalization")
_SUPPORTED_NAMES = sorted(
    {c.__name__ for c in _FUSED_OPS + _OUTPUT_QUANTIZED + _PASS_THROUGH + _WRAPPED}
    | {"BatchNormalization (after a Conv or Dense)"}
    | {f"{c.__name__} (kept float)" for c in _KEPT_FLOAT}
)


def quantizable(layer) -> bool:
    """Whether this engine can quantize `layer` on its own (the registry).

    Exact classes only (a subclass may compute something else). A
    BatchNormalization is quantizable only folded into the Conv or Dense before
    it, so it answers False here; `quantize` folds it where it can.

    Args:
        layer: a Keras 3 layer.

    Returns:
        True for Conv1D/Conv2D (channels_last, not causal, groups 1),
        DepthwiseConv2D (channels_last), Dense, EinsumDense and Embedding (not
        already quantized, no LoRA), MultiHeadAttention, LSTM, GRU
        (`reset_after=True`) and SimpleRNN, not stateful, alone or in a
        Bidirectional (both directions such a layer), and the weightless
        layers the
        engine quantizes or passes through. LayerNormalization answers False:
        it is kept float (`quantize` accepts it).
    """
    kind = type(layer)
    if kind in _OUTPUT_QUANTIZED or kind in _PASS_THROUGH:
        return True
    if kind in _WRAPPED:
        return _wrappable(layer)
    if kind not in _FUSED_OPS:
        return False
    if kind is keras.layers.Dense:
        return layer.quantization_mode is None and not layer.lora_enabled
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        return False
    return layer.padding != "causal" and getattr(layer, "groups", 1) == 1


def _wrappable(layer) -> bool:
    if isinstance(layer, (keras.layers.Embedding, keras.layers.EinsumDense)):
        return layer.quantization_mode is None and not layer.lora_enabled
    if isinstance(layer, keras.layers.MultiHeadAttention):
        return all(
            getattr(layer, attr, None) is None or _wrappable(getattr(layer, attr))
            for attr in ("_query_dense", "_key_dense", "_value_dense", "_output_dense")
        )
    if isinstance(layer, keras.layers.Bidirectional):
        return all(
            type(rnn) in _RECURRENT_CELLS and _wrappable(rnn)
            for rnn in (layer.forward_layer, layer.backward_layer)
        )
    if layer.stateful:
        return False
    return not isinstance(layer, keras.layers.GRU) or layer.cell.reset_after


def is_qat_model(model) -> bool:
    """Whether `model` holds layers of this engine (was made by `quantize`)."""
    return any(isinstance(layer, _QAT_LAYERS) for layer in _compat.sublayers(model))


_QAT_LAYERS = (
    FusedQuantize,
    ActivationQuantizer,
    QuantizedEinsumDense,
    QuantizedEmbedding,
    QuantizedMultiHeadAttention,
    QuantizedLSTMCell,
    QuantizedGRUCell,
    QuantizedSimpleRNNCell,
)


def quantize(
    student,
    *,
    layers: list[str] | None = None,
    preserve: str = "none",
    freeze_bn_delay: int | None = None,
):
    """A copy of `student` prepared for quantization-aware training (Keras 3).

    Each Conv1D/Conv2D/DepthwiseConv2D/Dense becomes a `FusedQuantize` layer
    named `quant_<name>` that also absorbs the BatchNormalization (on the last
    axis, without renorm) and ReLU/ReLU6 following it when it is their only
    input; Add,
    Concatenate, Multiply, average pooling and activations get an output
    quantizer; max pooling, reshaping, padding and Dropout pass their input's
    quantization on. LSTM, GRU (`reset_after=True`) and SimpleRNN become a
    `keras.layers.RNN` of a quantized cell (int8 kernel and recurrent kernel,
    8-bit step input, previous output and projections `x W + b`, `h U`;
    float gates, activation and cell state), and a Bidirectional of them a
    Bidirectional of two such RNNs, any `merge_mode` (None too: its two
    outputs), the merge in float. Layers not selected, and weightless layers
    the engine does not know (Rescaling, Normalization, Lambda, ...), compute
    in float; a quantized layer fed by a float tensor gets an input quantizer,
    so the first Conv/Dense after an input Normalization takes int8 inputs.

    The activation ranges come from training batches (the first batch sets
    them), so train (or distil) the result, or call `calibrate` first: before
    that every activation range is [-6, 6]. Being averages of batch ranges,
    they clip the rarest extreme activations, as TF-MOT's do.

    The `.tflite` file computes what the QAT model computes up to integer
    rounding, about one output quantization step (measured: at most 1 step on
    a MobileNet-style block and an MLP, most logits bit-exact). Two ops round
    once more in the file: int8 AVERAGE_POOL_2D averages on its input's grid
    before requantizing (up to half an input step), and int8 SOFTMAX writes
    on a fixed 1/256 grid first. Recurrent layers export unrolled, with two
    int8 FULLY_CONNECTED ops per time step and direction; measured on
    4-step students calibrated on 32 sequences (`python3 -m pytest -q
    tests/compress/test_keras3_qat_recurrent.py`): at most 2.0 output steps
    for Bidirectional GRU (return_sequences) then Bidirectional LSTM, 3.0 for
    SimpleRNN (tanh) then SimpleRNN (relu), all 33 and 17 FULLY_CONNECTED
    ops int8.

    Args:
        student: a built Keras 3 Functional or Sequential model (checked by
            `keras_distill.compress.quantize`). It is not modified.
        layers: names of the layers to quantize; None for all. Defaults to
            None.
        preserve: `"none"`, or `"sparsity"` to keep the zeros of a pruned
            student's kernels zero through training and into the file.
            Defaults to `"none"`.
        freeze_bn_delay: training steps during which a folded
            BatchNormalization uses (and updates) batch statistics before its
            moving ones are frozen (see `FusedQuantize`); 0 freezes them from
            the start. None for `quantizers.FREEZE_BN_DELAY` (300). Defaults
            to None.

    Returns:
        A new Functional model, not compiled, with the student's weights.

    Raises:
        ValueError: `student` is already a QAT model; selected layers have
            trainable weights this engine cannot
            quantize (all named, e.g. a stateful RNN, GRU with
            `reset_after=False` (alone or in a Bidirectional), a lone
            BatchNormalization, custom layers);
            quantize the others with `layers=[...]` to keep those float.

    Example:
    >>> qat = quantize(student)  # doctest: +SKIP
    >>> qat.compile("adam", loss); qat.fit(x, y)  # doctest: +SKIP
    """
    if is_qat_model(student):
        raise ValueError(
            f"`student` ({student.name}) is already prepared for quantization-"
            "aware training (it has FusedQuantize/ActivationQuantizer layers). "
            "Train it as it is, or quantize the original float student."
        )
    if freeze_bn_delay is None:
        freeze_bn_delay = FREEZE_BN_DELAY
    check_freeze_bn_delay(freeze_bn_delay)
    model = _functional_copy(student)
    selected = {lay.name for lay in model.layers} if layers is None else set(layers)
    graph = _Graph(model)
    groups, absorbed = _fusion_groups(model, graph, selected)
    unsupported = [
        layer
        for layer in model.layers
        if layer.name in selected
        and layer.trainable_weights
        and layer.name not in absorbed
        and not quantizable(layer)
        and type(layer) not in _KEPT_FLOAT
    ]
    if unsupported:
        named = ", ".join(f"{lay.name!r} ({type(lay).__name__})" for lay in unsupported)
        others = [
            lay.name
            for lay in model.layers
            if lay.name in selected
            and lay not in unsupported
            and not isinstance(lay, keras.layers.InputLayer)
        ]
        raise ValueError(
            f"keras_distill's Keras 3 QAT engine cannot quantize these layers: "
            f"{named}. "
            f"Quantize the others only with `layers={others}` (the unsupported "
            "layers then stay float). Supported: "
            f"{', '.join(_SUPPORTED_NAMES)}."
        )
    rewire = _Rewire(
        groups, absorbed, selected, preserve == "sparsity", freeze_bn_delay
    )
    return keras.models.clone_model(
        model,
        input_tensors=_inputs_like(model),
        clone_function=lambda layer: layer,
        call_function=rewire,
    )


def calibrate(model, x, batch_size: int = 32, steps: int | None = None):
    """Sets the activation ranges of a QAT model from data, without training.

    Runs batches of `x` through `model` in inference mode (BatchNormalization
    statistics and Dropout untouched) while every `ActivationQuantizer` updates
    its range as in training. Use it before evaluating or exporting a model
    from `quantize` that has not been trained yet.

    Args:
        model: a model from `quantize`.
        x: raw inputs, a NumPy array (or anything `np.asarray` takes).
        batch_size: examples per batch. Defaults to 32.
        steps: how many batches; None for all of `x`. Defaults to None.

    Returns:
        `model`, its ranges updated.

    Example:
    >>> calibrate(quantize(student), x_train[:512])  # doctest: +SKIP
    """
    x = np.asarray(x)
    quantizers = [
        layer
        for layer in _compat.sublayers(model)
        if isinstance(layer, ActivationQuantizer)
    ]
    count = -(-len(x) // batch_size)
    count = count if steps is None else min(count, steps)
    try:
        for quantizer in quantizers:
            quantizer.calibrating = True
        for i in range(count):
            model(x[i * batch_size : (i + 1) * batch_size], training=False)
    finally:
        for quantizer in quantizers:
            quantizer.calibrating = False
    return model


def _functional_copy(student):
    """A copy with the student's weights, Sequential turned Functional
    (`clone_model` rewires calls of Functional models only)."""
    model = student
    if isinstance(student, keras.Sequential):
        model = keras.Model(student.inputs, student.outputs, name=student.name)
    copy = keras.models.clone_model(model, input_tensors=_inputs_like(model))
    _layers.set_weights(copy, student.get_weights())
    return copy


def _inputs_like(model):
    """New `keras.Input`s named as the model's input layers (`clone_model`
    would name them after the tensors, e.g. "keras_tensor")."""
    return keras.tree.map_structure(
        lambda t: keras.Input(
            batch_shape=t.shape, dtype=t.dtype, name=t._keras_history.operation.name
        ),
        model.input,
    )


class _Graph:
    """Who calls each layer and who consumes each tensor, in `model` only."""

    def __init__(self, model):
        self.nodes = {}  # layer name -> its call nodes in this model
        self.consumers = {}  # id(tensor) -> layers that take it
        for nodes in _compat.nodes_by_depth(model).values():
            for node in nodes:
                self.nodes.setdefault(node.operation.name, []).append(node)
                for tensor in node.input_tensors:
                    self.consumers.setdefault(id(tensor), []).append(node.operation)
        self.outputs = {id(t) for t in model.outputs}

    def only_consumer(self, layer):
        """The one layer that takes `layer`'s output, else None."""
        nodes = self.nodes.get(layer.name, [])
        if len(nodes) != 1 or len(nodes[0].outputs) != 1:
            return None
        out = nodes[0].outputs[0]
        after = self.consumers.get(id(out), [])
        if id(out) in self.outputs or len(after) != 1:
            return None
        if len(self.nodes.get(after[0].name, [])) != 1:
            return None
        return after[0]


def _relu_kind(layer) -> str | None:
    """ "relu" or "relu6" if `layer` is one of those, else None."""
    if type(layer) is keras.layers.ReLU:
        if layer.negative_slope == 0 and layer.threshold == 0:
            return {None: "relu", 6.0: "relu6"}.get(
                None if layer.max_value is None else float(layer.max_value)
            )
        return None
    if type(layer) is keras.layers.Activation:
        name = keras.activations.serialize(layer.activation)
        return name if name in ("relu", "relu6") else None
    return None


def _fusion_groups(model, graph, selected):
    """First pass: `{head name: (bn or None, activation)}` and absorbed names."""
    groups, absorbed = {}, set()
    for layer in model.layers:
        if (
            layer.name not in selected
            or type(layer) not in _FUSED_OPS
            or not quantizable(layer)
        ):
            continue
        activation = keras.activations.serialize(layer.activation)
        bn, last = None, layer
        # A shared layer is quantized alone (one FusedQuantize for all calls).
        after = graph.only_consumer(layer)
        if (
            activation == "linear"
            and type(after) is keras.layers.BatchNormalization
            and after.name in selected
            and after.axis in (-1, len(after.input.shape) - 1)
            and not after.renorm
        ):
            bn, last = after, after
            absorbed.add(bn.name)
        after = graph.only_consumer(last)
        if activation == "linear" and after is not None and after.name in selected:
            kind = _relu_kind(after)
            if kind is not None:
                activation = kind
                absorbed.add(after.name)
        groups[layer.name] = (bn, activation)
    return groups, absorbed


def _quantized_rnn(layer, preserve_sparsity, name=None):
    """A `keras.layers.RNN` of the quantized cell for the LSTM, GRU or
    SimpleRNN `layer`, with its settings (weights not copied: not built)."""
    cell_config = layer.cell.get_config()
    cell_config.pop("name", None)
    cell = _RECURRENT_CELLS[type(layer)](
        preserve_sparsity=preserve_sparsity, **cell_config
    )
    return keras.layers.RNN(
        cell,
        return_sequences=layer.return_sequences,
        return_state=layer.return_state,
        go_backwards=layer.go_backwards,
        unroll=layer.unroll,
        zero_output_for_mask=layer.zero_output_for_mask,
        name=name or layer.name,
    )


class _Rewire:
    """Second pass, the `call_function` of `clone_model`: calls each layer,
    its fused or quantized replacement, or nothing (absorbed layers), and
    tracks which tensors are fake-quantized."""

    def __init__(self, groups, absorbed, selected, preserve_sparsity, freeze_bn_delay):
        self.groups = groups
        self.absorbed = absorbed
        self.selected = selected
        self.preserve_sparsity = preserve_sparsity
        self.freeze_bn_delay = freeze_bn_delay
        self.fused = {}  # layer name -> its FusedQuantize
        self.quantized = {}  # id(tensor) -> tensor, for the fake-quantized ones
        self.input_quantized = {}  # id(float tensor) -> its quantized version

    def __call__(self, layer, *args, **kwargs):
        if layer.name in self.absorbed:
            return args[0]  # already computed by its group's FusedQuantize
        if layer.name in self.groups:
            if layer.name not in self.fused:  # once, even for a shared layer
                bn, activation = self.groups[layer.name]
                self.fused[layer.name] = FusedQuantize(
                    layer,
                    batch_norm=bn,
                    activation=activation,
                    preserve_sparsity=self.preserve_sparsity,
                    freeze_bn_delay=self.freeze_bn_delay,
                    name=f"quant_{layer.name}",
                )
            fused = self.fused[layer.name]
            return self._mark(fused(self._quantize_input(args[0]), **kwargs))
        kind = type(layer)
        if kind in _WRAPPED and layer.name in self.selected:
            return self._wrapped(layer, args, kwargs)
        if kind in _OUTPUT_QUANTIZED and layer.name in self.selected:
            args = keras.tree.map_structure(self._quantize_input, args)
            out = layer(*args, **kwargs)
            return self._mark(ActivationQuantizer(name=f"quant_{layer.name}")(out))
        out = layer(*args, **kwargs)
        if kind in _PASS_THROUGH and all(
            id(t) in self.quantized
            for t in keras.tree.flatten(args)
            if isinstance(t, keras.KerasTensor)
        ):
            self._mark(out)
        return out

    def _wrapped(self, layer, args, kwargs):
        """Embedding, EinsumDense, MultiHeadAttention, LSTM or GRU, replaced by
        its quantized layer (once, even for a shared layer)."""
        name, sparse = f"quant_{layer.name}", self.preserve_sparsity
        new = self.fused.get(layer.name)
        if isinstance(layer, keras.layers.Embedding):  # integer ids: no input quantizer
            new = new or QuantizedEmbedding(layer, preserve_sparsity=sparse, name=name)
            self.fused[layer.name] = new
            return self._mark(new(*args, **kwargs))
        if isinstance(layer, keras.layers.EinsumDense):
            new = new or QuantizedEinsumDense(
                layer, preserve_sparsity=sparse, name=name
            )
            self.fused[layer.name] = new
            return self._mark(new(self._quantize_input(args[0]), **kwargs))
        if isinstance(layer, keras.layers.MultiHeadAttention):
            args = [self._quantize_input(a) for a in args[:3]] + list(args[3:])
            for key in ("query", "value", "key"):
                if key in kwargs:
                    kwargs[key] = self._quantize_input(kwargs[key])
            if new is None:
                new = QuantizedMultiHeadAttention.from_layer(layer, sparse, name)
                out = new(*args, **kwargs)  # builds it
                new.copy_weights(layer)
                self.fused[layer.name] = new
            else:
                out = new(*args, **kwargs)
            return keras.tree.map_structure(self._mark, out)
        # LSTM, GRU, SimpleRNN or a Bidirectional of them: the cells quantize
        # their own inputs; the output (the merge of both directions) is float.
        if new is None:
            if isinstance(layer, keras.layers.Bidirectional):
                forward = _quantized_rnn(layer.forward_layer, sparse)
                backward = _quantized_rnn(layer.backward_layer, sparse)
                new = keras.layers.Bidirectional(
                    forward,
                    merge_mode=layer.merge_mode,
                    backward_layer=backward,
                    name=name,
                )
                pairs = [
                    (new.forward_layer, layer.forward_layer),
                    (new.backward_layer, layer.backward_layer),
                ]
            else:
                new = _quantized_rnn(layer, sparse, name)
                pairs = [(new, layer)]
            out = new(*args, **kwargs)  # builds it
            for rnn, original in pairs:
                rnn.cell.copy_weights(original.cell)
            self.fused[layer.name] = new
            return out
        return new(*args, **kwargs)

    def _mark(self, tensor):
        self.quantized[id(tensor)] = tensor
        return tensor

    def _quantize_input(self, tensor):
        if not isinstance(tensor, keras.KerasTensor) or id(tensor) in self.quantized:
            return tensor
        if id(tensor) not in self.input_quantized:
            history = tensor._keras_history
            # One quantizer per output of a layer with several (e.g. the two
            # directions of a Bidirectional with merge_mode=None).
            index = f"_{history.tensor_index}" if history.tensor_index else ""
            name = f"quant_{history.operation.name}_output{index}"
            quantizer = ActivationQuantizer(name=name)
            self.input_quantized[id(tensor)] = self._mark(quantizer(tensor))
        return self.input_quantized[id(tensor)]

"""Which ops of a `.tflite` file compute in float, for files meant to be int8.

A full-integer file can still compute in float: a layer the QAT engine passes
over (an activation it does not know, a layer left out by `layers=`) keeps its
float kernel, with a DEQUANTIZE before it and a QUANTIZE after it. The file
runs and looks int8 (its weights are), so this reads the ops the LiteRT
interpreter will run and names the ones that touch a float tensor.

The ops are read with `Interpreter._get_ops_details()` (op name, input and
output tensor indices) and `get_tensor_details()` (names and dtypes), on an
interpreter without XNNPACK, which would otherwise replace the ops it takes by
one DELEGATE node. The alternatives are less direct: `tf.lite.experimental.
Analyzer.analyze` prints a text dump to stdout and returns None (so it would
have to be captured and parsed), and the flatbuffer reader
(`ai_edge_litert.schema_py_generated`) is no more public than the
interpreter's method and knows nothing of how LiteRT will resolve the ops. The
interpreter lists the main subgraph: a WHILE loop (a recurrent layer that was
not unrolled) shows as one WHILE op.
"""

import re

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from ai_edge_litert.interpreter import OpResolverType

from keras_distill.compress import _layers

_FLOAT_KINDS = "fc"  # float16/32/64 and complex
_SEGMENT = re.compile(r"[/;:]")
_RETRACE_SUFFIX = re.compile(r"_\d+$")


def layer_names(model) -> list[str]:
    """The names of every layer of `model`, nested models included: what
    `find_float_ops` matches tensor names against."""
    return [layer.name for layer in _layers.walk_layers(model)]


def _is_float(detail: dict) -> bool:
    return np.dtype(detail["dtype"]).kind in _FLOAT_KINDS


def _layer_of(tensor_name: str, layer_names) -> str | None:
    """The model layer a tensor name was made by, if one of its segments names one.

    Converted tensor names keep the Keras name scopes, e.g.
    `sequential/activation/Tanh` or `model/lambda/Sin;model/lambda/add`; the
    last segment that is a layer name wins.
    """
    found = None
    for segment in _SEGMENT.split(tensor_name):
        # Keras 3 traces the model again to export it, so its name scopes can
        # carry a `_1` the layer's name does not.
        for name in (segment, _RETRACE_SUFFIX.sub("", segment)):
            if name in layer_names:
                found = name
                break
    return found


def find_float_ops(content: bytes, layer_names=()) -> list[str]:
    """The ops of a `.tflite` file that compute in float, with where they are.

    The QUANTIZE of a float input and the DEQUANTIZE of a float output (a
    file with `int8_io=False`) are the file's boundary, not float compute, and
    are left out. Any other op with a float input or output is listed, the
    DEQUANTIZE and QUANTIZE around a float island included.

    Args:
        content: the bytes of a `.tflite` file.
        layer_names: the Keras model's layer names, to name the layer an op
            came from when its output tensor's name says it. Defaults to (),
            tensor names only.

    Returns:
        One string per float op, in execution order, naming the layer when
        its output tensor or its weights say it, e.g.
        `"TANH in layer 'activation' (tensor 'sequential/activation/Tanh')"`
        or `"TANH (tensor 'sequential/Tanh')"`; [] for a fully integer file.

    Raises:
        ValueError: `content` is not a valid `.tflite` file.

    Example:

    >>> find_float_ops(convert_tflite(student))  # doctest: +SKIP
    ["FULLY_CONNECTED in layer 'dense' (tensor 'sequential/dense/MatMul')"]
    """
    interpreter = Interpreter(
        model_content=content,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    tensors = {d["index"]: d for d in interpreter.get_tensor_details()}
    inputs = {d["index"] for d in interpreter.get_input_details()}
    outputs = {d["index"] for d in interpreter.get_output_details()}
    names = set(layer_names)
    ops = interpreter._get_ops_details()
    produced = {i for op in ops for i in op["outputs"]}
    found = []
    for op in ops:
        kind = op["op_name"]
        op_inputs = [i for i in op["inputs"] if i in tensors]
        op_outputs = [i for i in op["outputs"] if i in tensors]
        if kind == "QUANTIZE" and set(op_inputs) <= inputs:
            continue
        if kind == "DEQUANTIZE" and set(op_outputs) <= outputs:
            continue
        if not any(_is_float(tensors[i]) for i in op_inputs + op_outputs):
            continue
        tensor = tensors[op_outputs[0]]["name"] if op_outputs else ""
        # A model's output tensor is named after the serving signature; the
        # op's weights (inputs no op produces) still carry the layer's name.
        weights = [i for i in op_inputs if i not in produced and i not in inputs]
        candidates = [tensor] + [tensors[i]["name"] for i in weights]
        layer = next(
            (hit for name in candidates if (hit := _layer_of(name, names))), None
        )
        where = f" in layer {layer!r}" if layer else ""
        found.append(f"{kind}{where} (tensor {tensor!r})")
    return found

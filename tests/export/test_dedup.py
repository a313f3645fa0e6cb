"""Identical constant tensors merged in converted files (`export.dedup`)."""

from copy import deepcopy

import flatbuffers
import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.interpreter import Interpreter
from conftest import keras3_only

from keras_distill._compat import keras
from keras_distill.export import convert as convert_module
from keras_distill.export.convert import convert_tflite
from keras_distill.export.dedup import deduplicate_constants
from keras_distill.export.float_ops import _layer_of
from keras_distill.export.float_ops import layer_names

TIMESTEPS, FEATURES, UNITS, CLASSES = 8, 3, 4, 3


def read(content: bytes):
    return schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(content, 0))


def duplicate_constants(content: bytes) -> int:
    """How many constant tensors repeat another's type, shape, quantization and data."""
    model = read(content)
    seen, repeats = set(), 0
    for tensor in model.subgraphs[0].tensors:
        data = model.buffers[tensor.buffer].data
        if data is None or len(data) == 0:
            continue
        q = tensor.quantization
        key = (
            tensor.type,
            tuple(tensor.shape),
            bytes(np.asarray(data, np.uint8)),
            None if q is None or q.scale is None else tuple(q.scale),
            None if q is None or q.zeroPoint is None else tuple(q.zeroPoint),
        )
        repeats += key in seen
        seen.add(key)
    return repeats


def run(content: bytes, x: np.ndarray) -> np.ndarray:
    interpreter = Interpreter(model_content=content, num_threads=1)
    interpreter.allocate_tensors()
    (inp,), (out,) = (
        interpreter.get_input_details(),
        interpreter.get_output_details(),
    )
    rows = []
    for row in x:
        interpreter.set_tensor(inp["index"], row[None].astype(inp["dtype"]))
        interpreter.invoke()
        rows.append(interpreter.get_tensor(out["index"]).copy())
    return np.concatenate(rows)


def raw_convert(monkeypatch, model, **kwargs) -> bytes:
    """The converter's own bytes, without the merge."""
    with monkeypatch.context() as patch:
        patch.setattr(convert_module.dedup, "deduplicate_constants", lambda c: c)
        return convert_tflite(model, **kwargs)


def dense_student():
    return keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras.layers.Dense(UNITS, activation="relu"),
            keras.layers.Dense(CLASSES),
        ],
        name="dense_student",
    )


def test_file_with_nothing_left_to_change_is_returned_byte_for_byte():
    content = convert_tflite(dense_student())
    assert duplicate_constants(content) == 0
    assert deduplicate_constants(content) == content


def repeated_scopes(content: bytes) -> int:
    """Tensor names with two `;`-parts in the same name scope."""
    count = 0
    for tensor in read(content).subgraphs[0].tensors:
        scopes = [part.rpartition(b"/")[0] for part in tensor.name.split(b";")]
        count += len(set(scopes)) < len(scopes)
    return count


def test_fused_names_keep_one_part_per_scope_and_point_to_the_same_layers(
    monkeypatch,
):
    model = keras.Sequential(
        [
            keras.Input((TIMESTEPS, FEATURES)),
            keras.layers.GRU(UNITS),
            keras.layers.Dense(CLASSES, activation="relu"),
        ],
        name="gru_student",
    )
    x = np.random.default_rng(0).normal(size=(16, TIMESTEPS, FEATURES))
    x = x.astype("float32")
    options = {"quantization": "int8", "representative_data": x}
    raw = raw_convert(monkeypatch, model, **options)
    short = convert_tflite(model, **options)
    # Post-training int8 names each step's input after every `unstack` output.
    assert repeated_scopes(raw) > 0
    assert repeated_scopes(short) == 0
    assert len(short) < len(raw)
    # Nothing else changed, so tensor i is the same tensor in both files; the
    # layer `find_float_ops` reads from its name must be the same.
    layers = set(layer_names(model))
    raw_names = [t.name.decode() for t in read(raw).subgraphs[0].tensors]
    short_names = [t.name.decode() for t in read(short).subgraphs[0].tensors]
    assert len(raw_names) == len(short_names)
    raw_layers = [_layer_of(name, layers) for name in raw_names]
    assert raw_layers == [_layer_of(name, layers) for name in short_names]
    assert raw_layers.count("gru") > TIMESTEPS
    np.testing.assert_array_equal(run(short, x), run(raw, x))


def test_copied_constant_tensor_is_merged_and_outputs_are_bit_identical(
    monkeypatch,
):
    raw = raw_convert(monkeypatch, dense_student())
    # Give the second FULLY_CONNECTED its own copy of its kernel, with its own
    # buffer holding the same bytes: what the converter does per time step.
    model = read(raw)
    graph = model.subgraphs[0]
    fc = [op for op in graph.operators if len(op.inputs) >= 3][-1]
    kernel = graph.tensors[fc.inputs[1]]
    copy = deepcopy(kernel)
    copy.name = b"copy"
    buffer = schema.BufferT()
    buffer.data = np.array(model.buffers[kernel.buffer].data, np.uint8)
    model.buffers.append(buffer)
    copy.buffer = len(model.buffers) - 1
    graph.tensors.append(copy)
    fc.inputs = [fc.inputs[0], len(graph.tensors) - 1, *fc.inputs[2:]]
    builder = flatbuffers.Builder(len(raw))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    doubled = bytes(builder.Output())
    assert duplicate_constants(doubled) == 1

    merged = deduplicate_constants(doubled)
    assert duplicate_constants(merged) == 0
    assert len(read(merged).subgraphs[0].tensors) == len(graph.tensors) - 1
    assert len(merged) < len(doubled)
    x = np.random.default_rng(0).normal(size=(20, FEATURES)).astype("float32")
    np.testing.assert_array_equal(run(merged, x), run(doubled, x))
    np.testing.assert_array_equal(run(merged, x), run(raw, x))


def constant_data_offsets(content: bytes) -> list[int]:
    """Where each non-empty buffer's data starts in the file."""
    model = schema.Model.GetRootAsModel(content, 0)
    offsets = []
    for i in range(model.BuffersLength()):
        buffer = model.Buffers(i)
        if buffer.DataLength():
            offsets.append(buffer._tab.Vector(buffer._tab.Offset(4)))
    return offsets


@keras3_only
def test_qat_gru_int8_file_has_one_bias_per_layer_and_same_outputs(monkeypatch):
    # LSTM is the same with one bias instead of two; one case keeps CI short.
    kind = "GRU"
    from keras_distill import compress

    layer = {"GRU": keras.layers.GRU, "LSTM": keras.layers.LSTM}[kind]
    student = keras.Sequential(
        [keras.Input((TIMESTEPS, FEATURES)), layer(UNITS), keras.layers.Dense(3)],
        name=f"qat_{kind.lower()}",
    )
    x = np.random.default_rng(0).normal(size=(32, TIMESTEPS, FEATURES))
    x = x.astype("float32")
    model = compress.quantize(student)
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, np.zeros((32, 3)), epochs=1, batch_size=16, verbose=0)

    raw = raw_convert(monkeypatch, model, quantization="int8")
    merged = convert_tflite(model, quantization="int8")
    # The converter quantizes the bias once per unrolled FULLY_CONNECTED:
    # GRU's input and recurrent biases, LSTM's one bias, per step.
    copies = {"GRU": 2, "LSTM": 1}[kind] * (TIMESTEPS - 1)
    assert duplicate_constants(raw) == copies
    assert duplicate_constants(merged) == 0
    assert len(read(raw).subgraphs[0].tensors) - copies == len(
        read(merged).subgraphs[0].tensors
    )
    assert len(merged) < len(raw)
    assert deduplicate_constants(merged) == merged
    assert all(offset % 16 == 0 for offset in constant_data_offsets(merged))
    probe = np.random.default_rng(1).normal(size=(16, TIMESTEPS, FEATURES))
    np.testing.assert_array_equal(run(merged, probe), run(raw, probe))


@pytest.mark.parametrize("content", [b"", b"not a tflite file at all"])
def test_bytes_that_are_not_tflite_are_refused_with_the_fix(content):
    with pytest.raises(ValueError, match="not a .tflite file.*convert_tflite"):
        deduplicate_constants(content)

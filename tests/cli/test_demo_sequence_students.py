"""Sequence student presets (cnn1d, gru, lstm, transformer) on 40-value vectors."""

import json

import numpy as np
import pytest
from cli_testing import run_cli

from keras_distill import _compat
from keras_distill._compat import keras
from keras_distill.data import InputNormalization
from keras_distill.data.pipeline import bundle_from_arrays
from keras_distill.demo import compression
from keras_distill.demo import methods
from keras_distill.demo import presets
from keras_distill.demo import sequence_students

STEPS = 40
SEQUENCE = list(sequence_students.SEQUENCE_PRESETS)
# The demo's MLP student on 40 values and 10 classes, for comparison.
MLP_PARAMS = 40 * 100 + 100 + 100 * 100 + 100 + 100 * 10 + 10


def vectors(n=48, steps=STEPS, classes=10):
    """Random 40-value signals with 10 classes, standardized by the bundle."""
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(n, steps)).astype("float32")
    y = (np.arange(n) % classes).astype("int32")
    return bundle_from_arrays(
        "toy",
        x_train=x[: n - 16],
        y_train=y[: n - 16],
        x_test=x[n - 16 :],
        y_test=y[n - 16 :],
        class_names=tuple(str(c) for c in range(classes)),
        normalization_for=InputNormalization.standardize,
        batch_size=16,
        seed=0,
        validation_fraction=0.0,
        description="test data",
    )


@pytest.mark.parametrize("name", SEQUENCE)
def test_sequence_student_reads_raw_vectors_and_reshapes_them_inside(name):
    data = vectors()
    student = presets.student_preset(name, data)
    assert name in presets.STUDENT_PRESETS
    assert student.name == "student"
    # The file keeps the dataset's raw input: the reshape is a layer.
    assert tuple(student.input_shape) == (None, STEPS)
    assert student.layers[1].name == "normalization"
    reshape = student.get_layer("as_sequence")
    assert isinstance(reshape, keras.layers.Reshape)
    assert tuple(reshape.output.shape) == (None, STEPS, 1)
    assert student.layers[-1].name == "logits"
    assert student.get_layer("logits").activation is keras.activations.linear
    assert len(student.get_layer("features").output.shape) == 2
    x, _ = data.arrays("test")
    assert student.predict(x, verbose=0).shape == (len(x), 10)


@pytest.mark.parametrize(
    ("name", "params"),
    [("cnn1d", 12_106), ("gru", 13_514), ("lstm", 13_562), ("transformer", 17_930)],
)
def test_sequence_student_is_about_as_large_as_the_mlp(name, params):
    count = presets.student_preset(name, vectors()).count_params()
    assert count == params
    assert 0.75 * MLP_PARAMS <= count <= 1.25 * MLP_PARAMS


def test_transformer_adds_one_learned_position_vector_per_patch():
    student = presets.student_preset("transformer", vectors())
    embedding = student.get_layer("patch_embedding")
    tokens = STEPS // sequence_students.PATCH
    assert tuple(embedding.kernel.shape) == (
        sequence_students.PATCH,
        sequence_students.WIDTH,
    )
    assert tuple(embedding.bias.shape) == (tokens, sequence_students.WIDTH)
    attention = [
        layer
        for layer in student.layers
        if isinstance(layer, keras.layers.MultiHeadAttention)
    ]
    assert len(attention) == sequence_students.BLOCKS
    gelu = [
        layer.name
        for layer in student.layers
        if isinstance(layer, keras.layers.Dense)
        and "gelu" in str(keras.activations.serialize(layer.activation))
    ]
    assert gelu == [f"block{b}_ffn1" for b in range(1, sequence_students.BLOCKS + 1)]
    # The patch embedding reads the raw signal: the demo keeps it dense.
    assert compression.layers_kept_dense(student, vectors()) == ("patch_embedding",)


def test_sequence_students_refuse_images_and_a_length_the_patches_do_not_divide():
    rng = np.random.default_rng(0)
    images = bundle_from_arrays(
        "toy",
        x_train=rng.uniform(0, 255, (6, 8, 8, 1)).astype("float32"),
        y_train=np.arange(6) % 2,
        x_test=rng.uniform(0, 255, (2, 8, 8, 1)).astype("float32"),
        y_test=np.arange(2),
        class_names=("0", "1"),
        normalization_for=lambda _: InputNormalization.rescale(1 / 255),
        batch_size=4,
        seed=0,
        validation_fraction=0.0,
        description="test data",
    )
    for name in SEQUENCE:
        with pytest.raises(ValueError, match="reads vectors"):
            presets.student_preset(name, images)
    with pytest.raises(ValueError, match="multiple of 4"):
        presets.student_preset("transformer", vectors(steps=42))


@pytest.mark.parametrize("name", ["gru", "transformer"])
def test_compress_trains_qat_or_says_why_the_engine_refused(name):
    data = vectors()
    student = presets.student_preset(name, data)
    teacher = presets.teacher_preset(data)
    result = compression.compress(
        student,
        teacher,
        data,
        method=methods.get_method("kd"),
        sparsity=0.5,
        epochs=1,
    )
    assert result.pruned and result.sparsity > 0.3
    if _compat.LEGACY_KERAS:
        # TF-MOT has no 8-bit scheme for GRU or MultiHeadAttention: no QAT,
        # and the line says the int8 file will be post-training quantized.
        assert not result.qat
        refused = {"gru": "'gru' (GRU)", "transformer": "(MultiHeadAttention)"}
        assert refused[name] in result.qat_error
        assert "post-training quantized" in result.describe()
        assert set(result.histories) == {"prune"}
    else:
        assert result.qat and result.qat_error is None
        assert set(result.histories) == {"prune", "qat"}
        assert "refused" not in result.describe()


@pytest.mark.slow
def test_demo_fast_with_the_gru_student_exports_files_of_raw_vectors(tmp_path):
    out = tmp_path / "out"
    result = run_cli(
        ["demo", "--fast", "--student", "gru", "--output-dir", str(out)]
        + ["--cache-dir", str(tmp_path / "cache")],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    compressed = report["compression"]
    assert compressed["pruned"]
    compress_line = next(
        line for line in result.stdout.splitlines() if line.startswith("[5/7]")
    )
    assert "compress:" in compress_line
    if _compat.LEGACY_KERAS:
        assert not compressed["qat"] and "'gru' (GRU)" in compressed["qat_error"]
        assert "post-training quantized" in compress_line
    else:
        assert compressed["qat"] and compressed["qat_error"] is None
    from ai_edge_litert.interpreter import Interpreter

    models = {model["name"]: model for model in report["models"]}
    for name in ("distilled_student", "compressed_student"):
        interpreter = Interpreter(model_path=str(out / models[name]["tflite"]))
        signature = interpreter.get_input_details()[0]["shape_signature"]
        assert list(signature[1:]) == [STEPS]  # the raw signal, no reshape outside
        assert 0.0 <= models[name]["accuracy"] <= 1.0
    assert models["compressed_student"]["tflite"] == "compressed_student_int8.tflite"

"""Files that keras_distill's classes are saved in load in a new process.

`keras.saving.load_model` finds a class a `.keras` file names through Keras'
registry, so `import keras_distill` alone must register every class; these
tests load in a subprocess, where nothing else has imported the modules.
"""

import ast
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from conftest import keras3_only

from keras_distill import Distiller
from keras_distill import _compat
from keras_distill._compat import keras
from keras_distill.augmentation import Mixup
from keras_distill.compress import quantize

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "keras_distill"
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _registered_classes():
    """(module, class name) of every class decorated to register with Keras."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if _compat.LEGACY_KERAS and "_keras3" in path.parts:
            continue  # the Keras 3 engine is not importable on tf_keras
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                "register_keras_serializable" in ast.unparse(d)
                for d in node.decorator_list
            ):
                found.append((str(path.relative_to(PACKAGE.parent)), node.name))
    return found


def _run(code, cwd):
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_import_keras_distill_registers_every_serializable_class(tmp_path):
    classes = _registered_classes()
    assert len(classes) >= 15  # the walk found the package's classes
    names = [f"keras_distill>{name}" for _, name in classes]
    code = (
        "import keras_distill\n"
        "from keras_distill._compat import keras\n"
        f"names = {names!r}\n"
        "known = keras.saving.get_custom_objects()\n"
        "print([n for n in names if n not in known])\n"
    )
    assert _run(code, tmp_path).split("\n")[-2] == "[]", classes


def _student():
    x = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(4, 3, use_bias=False)(x)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(x, keras.layers.Dense(3)(h))


def _load_and_predict(path, x_path, tmp_path, scope=""):
    code = (
        "import numpy as np\n"
        "import keras_distill\n"
        "from keras_distill._compat import keras\n"
        f"{scope}\n"
        f"model = keras.models.load_model({str(path)!r}, compile=False)\n"
        f"np.save('out.npy', model.predict(np.load({str(x_path)!r}), verbose=0))\n"
        "print(type(model).__name__)\n"
    )
    name = _run(code, tmp_path).split("\n")[-2]
    return name, np.load(tmp_path / "out.npy")


def _sequence_student():
    """Embedding, attention, LayerNormalization, LSTM and GRU: every QAT class."""
    x = keras.Input((6,), dtype="int32")
    h = keras.layers.Embedding(20, 8)(x)
    h = keras.layers.LayerNormalization()(
        h + keras.layers.MultiHeadAttention(2, 4)(h, h)
    )
    h = keras.layers.LSTM(4, return_sequences=True)(h)
    return keras.Model(x, keras.layers.Dense(3)(keras.layers.GRU(4)(h)))


@keras3_only
@pytest.mark.parametrize("kind", ["conv", "sequence"])
def test_saved_qat_model_loads_in_a_new_process_with_the_same_outputs(kind, tmp_path):
    rng = np.random.default_rng(0)
    if kind == "conv":
        student, x = _student(), rng.random((4, 8, 8, 1), dtype=np.float32)
    else:
        student, x = _sequence_student(), rng.integers(0, 20, (4, 6), dtype=np.int32)
    np.save(tmp_path / "x.npy", x)
    qat = quantize(student)
    qat.compile(optimizer="adam", loss=LOSS)
    qat.fit(x, np.arange(4) % 3, verbose=0)
    qat.save(tmp_path / "qat.keras")
    _, got = _load_and_predict(tmp_path / "qat.keras", tmp_path / "x.npy", tmp_path)
    np.testing.assert_allclose(got, qat.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_saved_distiller_with_mixup_loads_in_a_new_process(tmp_path):
    x = np.random.default_rng(0).random((4, 8, 8, 1), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    distiller = Distiller(
        student=_student(), teacher=_student(), augmentation=Mixup(alpha=0.2)
    )
    distiller.compile(optimizer="adam", loss=LOSS)
    distiller.fit(x, np.arange(4) % 3, verbose=0)
    distiller.save(tmp_path / "distiller.keras")
    name, got = _load_and_predict(
        tmp_path / "distiller.keras", tmp_path / "x.npy", tmp_path
    )
    assert name == "Distiller"
    want = distiller.student.predict(x, verbose=0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not _compat.LEGACY_KERAS, reason="TF-MOT QAT: tf_keras pass")
def test_saved_tfmot_qat_model_loads_in_a_new_process_in_quantize_scope(tmp_path):
    x = np.random.default_rng(0).random((4, 8, 8, 1), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    qat = quantize(_student())
    # TF-MOT's QuantizeLayer does not reload from the `.keras` format (it
    # expects 5 variables and the file holds 3): TF-MOT documents HDF5.
    qat.save(tmp_path / "qat.h5")
    scope = (
        "import tensorflow_model_optimization as tfmot\n"
        "tfmot.quantization.keras.quantize_scope().__enter__()"
    )
    _, got = _load_and_predict(tmp_path / "qat.h5", tmp_path / "x.npy", tmp_path, scope)
    np.testing.assert_allclose(got, qat.predict(x, verbose=0), rtol=1e-5, atol=1e-6)

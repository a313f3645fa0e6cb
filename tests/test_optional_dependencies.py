"""`pip install keras-distill` distils, compresses and exports without the extras.

The extras (`[tfmot]`, `[tfds]`, `[demo]`) hold what only some features need;
a feature whose extra is missing says which one to install.
"""

import os
import subprocess
import sys

from conftest import keras3_only

from keras_distill import cli
from keras_distill._optional import OPTIONAL

# What the base install lacks: every optional package, blocked at import.
BLOCK = "".join(f"sys.modules[{name!r}] = None\n" for name in OPTIONAL)


def _keras3_environ():
    return {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}


@keras3_only
def test_distil_prune_quantize_export_run_without_any_extra(tmp_path):
    code = (
        "import sys\n" + BLOCK + "import numpy as np, keras, keras_distill\n"
        "from keras_distill import compress, export\n"
        "x = np.random.default_rng(0).random((64, 6), dtype=np.float32)\n"
        "y = (x[:, 0] * 3).astype('int64')\n"
        "def mlp(width):\n"
        "    hidden = keras.layers.Dense(width, activation='relu')\n"
        "    out = keras.layers.Dense(3)\n"
        "    return keras.Sequential([keras.Input((6,)), hidden, out])\n"
        "loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)\n"
        "student = compress.prune(mlp(8), target_sparsity=0.5, schedule='constant')\n"
        "distiller = keras_distill.Distiller(student=student, teacher=mlp(16))\n"
        "distiller.compile(optimizer='adam', loss=loss)\n"
        "distiller.fit(x, y, epochs=1, verbose=0,\n"
        "    callbacks=compress.pruning_callbacks())\n"
        "qat = compress.quantize(compress.strip_pruning(distiller.student))\n"
        "report = export.export_and_verify(qat, 's.tflite', 'int8', x, x, y)\n"
        "print('OK', report.quantization)\n"
    )
    env = _keras3_environ()
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**env, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split()[-2:] == ["OK", "int8"]
    assert (tmp_path / "s.tflite").is_file()


def test_a_loader_without_its_extra_names_the_extra_to_install(tmp_path):
    code = (
        "import sys\n" + BLOCK + "from keras_distill import data\n"
        "for load in (data.load_mnist1d, data.load_digits, data.load_tfds):\n"
        "    try:\n"
        "        load('mnist') if load is data.load_tfds else load()\n"
        "    except ImportError as error:\n"
        "        print(load.__name__, error)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        # Keras 3, whatever this pass runs: the block includes tf_keras.
        env={**_keras3_environ(), "KERAS_DISTILL_CACHE": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    assert "pip install 'keras-distill[demo]'" in lines["load_mnist1d"]
    assert "pip install 'keras-distill[demo]'" in lines["load_digits"]
    assert "pip install 'keras-distill[tfds]'" in lines["load_tfds"]


def test_demo_without_the_demo_extra_is_refused_before_tensorflow_loads(
    monkeypatch, capsys
):
    real = cli.importlib.util.find_spec
    monkeypatch.setattr(
        cli.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "matplotlib" else real(name, *a),
    )
    assert cli.main(["demo", "--fast"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "`matplotlib`" in err and "pip install 'keras-distill[demo]'" in err

"""Pruning and QAT under MirroredStrategy match single-device training.

Logical CPU devices must be configured before TensorFlow runs any op, so the
runs happen in a fresh subprocess: two replicas on one CPU, then the same
training without a strategy, from the same weights and batches.
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2
)
import keras_distill
from keras_distill import compress
from keras_distill import keras

rng = np.random.default_rng(0)
x = rng.random((64, 12), dtype=np.float32)
y = np.minimum((x[:, 0] * 3).astype("int64"), 2)
loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def mlp(width, name):
    keras.utils.set_random_seed(1)
    inputs = keras.Input((12,))
    h = keras.layers.Dense(width, activation="relu", name=name + "_d0")(inputs)
    return keras.Model(inputs, keras.layers.Dense(3, name=name + "_out")(h))


def train(strategy, kind):
    with strategy.scope():
        teacher, student = mlp(16, "teacher"), mlp(8, "student")
        if kind == "prune":
            student = compress.prune(
                student, target_sparsity=0.5, schedule="constant", frequency=1
            )
        else:
            student = compress.quantize(student)
        distiller = keras_distill.Distiller(student=student, teacher=teacher)
        distiller.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    callbacks = compress.pruning_callbacks() if kind == "prune" else []
    distiller.fit(data, epochs=2, verbose=0, callbacks=callbacks)
    final = compress.strip_pruning(student) if kind == "prune" else student
    return {
        "trainable": [np.asarray(w).tolist() for w in final.trainable_weights],
        "other": [np.asarray(w).tolist() for w in final.non_trainable_weights],
        "report": compress.sparsity_report(final),
    }


kind = sys.argv[1]
print(json.dumps({
    "mirrored": train(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), kind),
    "single": train(tf.distribute.get_strategy(), kind),
}))
"""


@pytest.mark.parametrize("kind", ["prune", "quantize"])
def test_compression_under_mirrored_strategy_matches_one_device(kind):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, kind],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    runs = json.loads(out.stdout.strip().splitlines()[-1])
    mirrored, single = runs["mirrored"], runs["single"]
    # Activation ranges (QAT) are each replica's batch range, averaged over the
    # replicas (as TF-MOT's MEAN-aggregated range variables): close to the
    # whole batch's range, not equal, and the weights trained through them
    # differ as little. Pruning has no such state: the same numbers.
    atol = 1e-5 if kind == "prune" else 5e-3
    for got, want in zip(mirrored["trainable"], single["trainable"], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=atol)
    for got, want in zip(mirrored["other"], single["other"], strict=True):
        np.testing.assert_allclose(got, want, rtol=0.05, atol=1e-5)
    if kind == "prune":
        for name, entry in mirrored["report"].items():
            assert entry["sparsity"] == pytest.approx(0.5, abs=0.05), name
        assert mirrored["report"] == single["report"]

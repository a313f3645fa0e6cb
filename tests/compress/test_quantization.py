"""Tests for keras_distill.compress.quantization, on both engines.

Tests without a flavour mark run on our Keras 3 engine in the Keras 3 pass and
on TF-MOT in the tf_keras pass; tests/compress/test_keras3_qat.py has the
Keras 3 engine's own (numbers, converted ops).
"""

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter
from compress_models import LOSS
from compress_models import data
from compress_models import keras3_mlp
from compress_models import mlp
from compress_models import subclassed
from conftest import keras3_only
from conftest import tf_keras_only

from keras_distill import Distiller
from keras_distill._compat import keras
from keras_distill.compress import calibrate
from keras_distill.compress import cluster
from keras_distill.compress import prune
from keras_distill.compress import pruning_callbacks
from keras_distill.compress import quantize
from keras_distill.compress import sparsity_report
from keras_distill.compress import strip_clustering
from keras_distill.compress import strip_pruning
from keras_distill.export import export_and_verify


def _fit(model, x, y, epochs=1, callbacks=None):
    model.compile(optimizer="adam", loss=LOSS)
    return model.fit(x, y, batch_size=32, epochs=epochs, verbose=0, callbacks=callbacks)


@keras3_only
def test_quantize_given_a_tf_keras_model_on_keras3_raises_type_error():
    import tf_keras

    x = tf_keras.Input((12,))
    model = tf_keras.Model(x, tf_keras.layers.Dense(3)(x))
    with pytest.raises(TypeError, match="tf_keras.*TF_USE_LEGACY_KERAS"):
        quantize(model)


@keras3_only
def test_cluster_preserving_qat_on_keras3_says_it_needs_tf_keras():
    with pytest.raises(ValueError, match="clustering needs TF-MOT"):
        quantize(mlp(), preserve="clusters")


@tf_keras_only
def test_quantize_given_a_keras3_model_raises_type_error_naming_the_switch():
    with pytest.raises(TypeError, match="Keras 3 model.*TF_USE_LEGACY_KERAS=1"):
        quantize(keras3_mlp())


def test_quantize_wraps_every_layer_and_leaves_the_student_unchanged():
    student = mlp(units=(8,))
    before = [w.copy() for w in student.get_weights()]
    qat = quantize(student)
    wrapped = [layer.name for layer in qat.layers if layer.name.startswith("quant_")]
    # Our engine also quantizes the model input with a layer of its own.
    assert [name for name in wrapped if "input" not in name] == [
        "quant_d0",
        "quant_out",
    ]
    x, y = data(n=64)
    _fit(qat, x, y)
    for old, new in zip(before, student.get_weights()):
        np.testing.assert_array_equal(old, new)


@tf_keras_only
def test_quantize_selected_layers_keeps_the_others_weights_float():
    qat = quantize(mlp(units=(8, 8)), layers=["d1"])
    configs = {
        layer.name: type(getattr(layer, "quantize_config", None)).__name__
        for layer in qat.layers
    }
    assert configs["quant_d1"] == "Default8BitQuantizeConfig"
    # TF-MOT quantizes the output (not the weights) of the layer feeding d1.
    assert configs["quant_d0"] == "OutputOnlyConfig"
    assert type(qat.get_layer("out")).__name__ == "Dense"


def test_quantize_unknown_layer_name_lists_the_available_names():
    with pytest.raises(ValueError, match=r"\['dense_9'\].*Available.*'d0', 'out'"):
        quantize(mlp(), layers=["dense_9"])


def test_quantize_empty_layer_list_raises_value_error():
    with pytest.raises(ValueError, match="`layers` is empty"):
        quantize(mlp(), layers=[])


@tf_keras_only
def test_quantize_names_every_unsupported_layer_and_the_subset_fix():
    model = keras.Sequential(
        [
            keras.Input((16, 2)),
            keras.layers.Conv1D(4, 3, name="conv"),
            keras.layers.LayerNormalization(name="norm"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(3, name="out"),
        ]
    )
    with pytest.raises(ValueError) as error:
        quantize(model)
    message = str(error.value)
    assert "'conv' (Conv1D)" in message
    assert "'norm' (LayerNormalization)" in message
    assert "layers=['flat', 'out']" in message
    # The suggested subset works.
    qat = quantize(model, layers=["flat", "out"])
    assert "quant_out" in [layer.name for layer in qat.layers]


def test_quantize_folds_batchnorm_after_conv2d_instead_of_rejecting_it():
    model = keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Conv2D(4, 3, name="conv"),
            keras.layers.BatchNormalization(name="bn"),
            keras.layers.ReLU(name="relu"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(3, name="out"),
        ]
    )
    assert "quant_conv" in [layer.name for layer in quantize(model).layers]


def test_quantize_bad_preserve_subclassed_and_nested_models_raise():
    with pytest.raises(ValueError, match="preserve"):
        quantize(mlp(), preserve="pruning")
    with pytest.raises(TypeError, match="Functional or Sequential"):
        quantize(subclassed())
    inner = mlp(units=(4,), name="inner")
    x = keras.Input((12,))
    with pytest.raises(ValueError, match="nested models.*'inner'"):
        quantize(keras.Model(x, inner(x)))


def test_quantize_a_still_pruned_student_asks_to_strip_first():
    with pytest.raises(ValueError, match="strip_pruning"):
        quantize(prune(mlp(), schedule="constant"), preserve="sparsity")


def test_pruning_preserving_qat_keeps_the_zeros_and_plain_qat_does_not():
    x, y = data(n=128)
    pruned = prune(
        mlp(units=(16,)), target_sparsity=0.5, schedule="constant", frequency=1
    )
    _fit(pruned, x, y, callbacks=pruning_callbacks())
    sparse = strip_pruning(pruned)
    for preserve, expected in [("sparsity", True), ("none", False)]:
        qat = quantize(sparse, preserve=preserve)
        _fit(qat, x, y, epochs=2)
        report = sparsity_report(qat)
        kept = all(entry["sparsity"] >= 0.5 - 1e-9 for entry in report.values())
        assert kept is expected, (preserve, report)


def _normalized_mlp(first):
    """An MLP whose first layer normalizes raw inputs, as exported students do."""
    x = keras.Input((12,))
    h = first(x)
    h = keras.layers.Dense(16, activation="relu", name="d0")(h)
    return keras.Model(x, keras.layers.Dense(3, name="out")(h), name="student")


_FIRST_LAYERS = {
    "Rescaling": lambda: keras.layers.Rescaling(2.0, name="normalize"),
    "Normalization": lambda: keras.layers.Normalization(
        mean=0.5, variance=1 / 12, name="normalize"
    ),
}


@tf_keras_only
@pytest.mark.parametrize(
    "preserve", ["none", "sparsity", "clusters", "sparse_clusters"]
)
@pytest.mark.parametrize("first", sorted(_FIRST_LAYERS))
@pytest.mark.parametrize("layers", [["d0", "out"], None], ids=["listed", "default"])
def test_preserving_qat_keeps_an_input_normalization_layer_float(
    first, preserve, layers
):
    # TF-MOT 0.8.1's collaborative registries claim such layers and then crash
    # in quantize_apply; quantize() must keep them float instead, also with its
    # defaults (which TF-MOT's quantize_annotate_model refuses).
    student = _normalized_mlp(_FIRST_LAYERS[first]())
    qat = quantize(student, layers=layers, preserve=preserve)
    assert {"quant_d0", "quant_out"} <= {layer.name for layer in qat.layers}
    # It computes in float; only its output is quantized, so d0 gets int8 inputs.
    normalize = qat.get_layer("quant_normalize")
    assert type(normalize.layer).__name__ == first
    config = normalize.quantize_config
    assert config.get_weights_and_quantizers(normalize.layer) == []
    assert len(config.get_output_quantizers(normalize.layer)) == 1
    x, y = data(n=64)
    _fit(qat, x, y)
    np.testing.assert_allclose(
        normalize.layer(x).numpy(), student.get_layer("normalize")(x).numpy()
    )


@tf_keras_only
@pytest.mark.slow
def test_pruned_distilled_pqat_student_exports_to_a_sparse_int8_file(tmp_path):
    x, y = data(n=256)
    teacher = mlp(units=(32, 32), name="teacher")
    teacher.compile(optimizer=keras.optimizers.Adam(0.01), loss=LOSS)
    teacher.fit(x, y, batch_size=32, epochs=5, verbose=0)
    student = _normalized_mlp(_FIRST_LAYERS["Normalization"]())
    pruned = prune(student, target_sparsity=0.75, schedule="constant", frequency=1)
    distiller = Distiller(student=pruned, teacher=teacher, alpha=0.1)
    distiller.compile(optimizer=keras.optimizers.Adam(0.01), loss=LOSS)
    distiller.fit(
        x, y, batch_size=32, epochs=3, verbose=0, callbacks=pruning_callbacks()
    )
    sparse = strip_pruning(distiller.student)
    qat = quantize(sparse, layers=["d0", "out"], preserve="sparsity")
    distiller = Distiller(student=qat, teacher=teacher, alpha=0.1)
    distiller.compile(optimizer=keras.optimizers.Adam(1e-3), loss=LOSS)
    distiller.fit(x, y, batch_size=32, epochs=2, verbose=0)

    report = export_and_verify(
        distiller.student, tmp_path / "pqat.tflite", "int8", x_eval=x, y_eval=y
    )
    # The file carries the zeros: its int8 kernels are at least 75 % zero.
    interpreter = Interpreter(model_path=report.path)
    kernels = [
        interpreter.get_tensor(detail["index"])
        for detail in interpreter.get_tensor_details()
        if detail["dtype"] == np.int8
        and len(detail["shape"]) == 2
        and detail["shape"][0] in (16, 3)
        and detail["shape"][1] in (12, 16)
    ]
    assert len(kernels) == 2
    for kernel in kernels:
        assert np.mean(kernel == 0) >= 0.75
    assert report.top1_agreement >= 0.95
    assert report.accuracy >= report.keras_accuracy - 0.05


@tf_keras_only
def test_cluster_preserving_qat_keeps_at_most_the_cluster_count_of_values():
    x, y = data(n=128)
    clustered = cluster(mlp(units=(16,)), number_of_clusters=4)
    _fit(clustered, x, y)
    qat = quantize(strip_clustering(clustered), preserve="clusters")
    _fit(qat, x, y, epochs=2)
    converted = qat.predict(x, verbose=0)
    assert np.all(np.isfinite(converted))
    for layer in qat.layers:
        if layer.name.startswith("quant_"):
            # The wrapper computes the kernel from centroids and indices.
            indices = [w for w in layer.weights if "pulling_indices" in w.name]
            assert indices, layer.name
            assert len(np.unique(indices[0].numpy())) <= 4


@tf_keras_only
def test_distilling_a_qat_student_lowers_the_loss():
    x, y = data(n=256)
    teacher = mlp(units=(32, 32), name="teacher")
    teacher.compile(optimizer=keras.optimizers.Adam(0.01), loss=LOSS)
    teacher.fit(x, y, batch_size=32, epochs=10, verbose=0)
    distiller = Distiller(student=quantize(mlp(units=(16,))), teacher=teacher)
    distiller.compile(optimizer=keras.optimizers.Adam(0.01), loss=LOSS)
    history = distiller.fit(x, y, batch_size=32, epochs=5, verbose=0).history
    assert history["loss"][-1] < 0.85 * history["loss"][0]
    assert history["distillation_loss"][-1] < history["distillation_loss"][0]
    assert type(distiller.student.get_layer("quant_d0")).__name__ == (
        "QuantizeWrapperV2"
    )


# ------------------------------------------------------------------- calibrate
@keras3_only
def test_calibrate_sets_activation_ranges_from_data_without_training():
    x, _ = data(n=64)
    qat = quantize(mlp())
    before = [w.numpy().copy() for w in qat.trainable_weights]
    calibrate(qat, x, batch_size=16, steps=2)
    ranges = {
        w.path: float(w.numpy()) for w in qat.weights if w.name.startswith("range_")
    }
    assert ranges and all(abs(v) < 6.0 for v in ranges.values())  # not [-6, 6]
    for got, want in zip(qat.trainable_weights, before, strict=True):
        np.testing.assert_array_equal(got.numpy(), want)  # nothing trained


@keras3_only
def test_calibrate_refuses_a_float_model_and_bad_arguments():
    x, _ = data(n=8)
    with pytest.raises(ValueError, match="returned by `quantize`"):
        calibrate(mlp(), x)
    with pytest.raises(ValueError, match="batch_size"):
        calibrate(quantize(mlp()), x, batch_size=0)
    with pytest.raises(ValueError, match="empty"):
        calibrate(quantize(mlp()), x[:0])


@tf_keras_only
def test_calibrate_on_tf_keras_says_tfmot_learns_ranges_in_training():
    with pytest.raises(RuntimeError, match="TF-MOT learns its ranges"):
        calibrate(mlp(), data(n=8)[0])

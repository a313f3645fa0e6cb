"""Tests for keras_distill.compress.clustering (TF-MOT weight clustering)."""

import numpy as np
import pytest
from compress_models import LOSS
from compress_models import data
from compress_models import keras3_mlp
from compress_models import mlp
from compress_models import subclassed
from conftest import keras3_only
from conftest import tf_keras_only

from keras_distill._compat import keras
from keras_distill.compress import cluster
from keras_distill.compress import prune
from keras_distill.compress import pruning_callbacks
from keras_distill.compress import sparsity_report
from keras_distill.compress import strip_clustering
from keras_distill.compress import strip_pruning


def _fit(model, x, y, callbacks=None):
    model.compile(optimizer="adam", loss=LOSS)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=callbacks)


@keras3_only
@pytest.mark.parametrize("fn", [cluster, strip_clustering])
def test_clustering_on_keras3_raises_runtime_error_naming_the_switch(fn):
    with pytest.raises(RuntimeError, match="TF_USE_LEGACY_KERAS=1"):
        fn(mlp())


@tf_keras_only
def test_cluster_given_a_keras3_model_raises_type_error_naming_the_switch():
    with pytest.raises(TypeError, match="Keras 3 model.*TF_USE_LEGACY_KERAS=1"):
        cluster(keras3_mlp())


@tf_keras_only
def test_cluster_then_strip_leaves_at_most_n_values_per_kernel():
    student = mlp(units=(16,))
    before = [w.copy() for w in student.get_weights()]
    clustered = cluster(student, number_of_clusters=5)
    assert [layer.name for layer in clustered.layers[1:]] == [
        "cluster_d0",
        "cluster_out",
    ]
    x, y = data(n=128)
    _fit(clustered, x, y)
    stripped = strip_clustering(clustered)
    assert [type(layer).__name__ for layer in stripped.layers[1:]] == [
        "Dense",
        "Dense",
    ]
    for layer in stripped.layers[1:]:
        assert len(np.unique(layer.kernel.numpy())) <= 5, layer.name
    np.testing.assert_allclose(
        stripped.predict(x, verbose=0), clustered.predict(x, verbose=0), atol=1e-5
    )
    for old, new in zip(before, student.get_weights()):
        np.testing.assert_array_equal(old, new)


@tf_keras_only
def test_sparsity_preserving_clustering_keeps_the_zeros_of_a_pruned_student():
    x, y = data(n=128)
    pruned = prune(mlp(), target_sparsity=0.5, schedule="constant", frequency=1)
    _fit(pruned, x, y, callbacks=pruning_callbacks())
    clustered = cluster(
        strip_pruning(pruned), number_of_clusters=4, preserve_sparsity=True
    )
    _fit(clustered, x, y)
    for name, entry in sparsity_report(strip_clustering(clustered)).items():
        assert entry["sparsity"] >= 0.5, name


@tf_keras_only
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"number_of_clusters": 1}, ValueError, ">= 2"),
        ({"number_of_clusters": 2, "preserve_sparsity": True}, ValueError, ">= 3"),
        ({"number_of_clusters": 4.0}, TypeError, "int"),
        ({"init": "kmeans"}, ValueError, "kmeans\\+\\+"),
        ({"preserve_sparsity": "yes"}, TypeError, "bool"),
        ({"skip_layers": ["nope"]}, ValueError, "Available layer names"),
    ],
)
def test_cluster_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        cluster(mlp(), **kwargs)


@tf_keras_only
def test_cluster_subclassed_model_raises_type_error_naming_functional():
    with pytest.raises(TypeError, match="Functional or Sequential"):
        cluster(subclassed())


@tf_keras_only
def test_cluster_skip_layers_keeps_a_layer_unclustered():
    clustered = cluster(mlp(), number_of_clusters=4, skip_layers=["out"])
    assert [layer.name for layer in clustered.layers[1:]] == ["cluster_d0", "out"]


@tf_keras_only
def test_cluster_keeps_layers_tfmot_leaves_alone():
    model = keras.Sequential(
        [
            keras.Input((12,)),
            keras.layers.Dense(8, name="d"),
            keras.layers.BatchNormalization(name="bn"),
            keras.layers.Dropout(0.1, name="drop"),
            keras.layers.Dense(3, name="out"),
        ]
    )
    names = [layer.name for layer in cluster(model, number_of_clusters=4).layers]
    assert names == ["cluster_d", "cluster_bn", "drop", "cluster_out"]

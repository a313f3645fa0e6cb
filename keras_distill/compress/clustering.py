"""Weight clustering of a student while it is distilled (thin over TF-MOT).

Clustering replaces each kernel's values by `number_of_clusters` shared
centroids that are trained; after `strip_clustering` a kernel holds at most that
many distinct values, which gzip (and int8 palettes) compress well. Follow it
with `quantize(..., preserve="clusters")` to keep the clusters through QAT. TF-MOT
needs tf_keras: run with `TF_USE_LEGACY_KERAS=1`.

Layers: TF-MOT's clustering registry covers Dense, Conv1D/2D/3D and their
transposes, SeparableConv (pointwise kernel), Embedding, RNNs and
MultiHeadAttention. Layers without weights are kept as they are; DepthwiseConv2D
and normalization layers get a wrapper that leaves them unclustered (as TF-MOT
does). Other layers with trainable weights that TF-MOT cannot cluster are an
error naming them, unless listed in `skip_layers`.
"""

from keras_distill._compat import import_tfmot
from keras_distill._numbers import check_int
from keras_distill.compress import _checks
from keras_distill.compress import _layers

CENTROID_INITS = {
    "kmeans++": "KMEANS_PLUS_PLUS",
    "linear": "LINEAR",
    "density": "DENSITY_BASED",
    "random": "RANDOM",
}


def cluster(
    student,
    *,
    number_of_clusters: int = 16,
    init: str = "kmeans++",
    preserve_sparsity: bool = False,
    skip_layers: list[str] | None = None,
):
    """Wraps a copy of `student` for weight clustering during training.

    Use it on a trained student (clustering a random network throws away what
    little structure it has), distil or fine-tune the result for a few epochs at
    a low learning rate, then `strip_clustering` before export. `student` itself
    is not modified. No callback is needed.

    Args:
        student: a built Functional or Sequential tf_keras model without TF-MOT
            wrappers (strip a pruned student first).
        number_of_clusters: int >= 2 (>= 3 with `preserve_sparsity`), distinct
            values per kernel. Defaults to 16.
        init: how centroids start: `"kmeans++"`, `"linear"` (evenly between the
            smallest and largest weight), `"density"` or `"random"`. Defaults to
            `"kmeans++"`.
        preserve_sparsity: bool, keep the zeros of a pruned student at zero
            (sparsity-preserving clustering). Defaults to False.
        skip_layers: names of layers to keep unclustered. Defaults to None.

    Returns:
        A new model whose clusterable layers are TF-MOT `ClusterWeights`
        wrappers (named `cluster_<layer name>`), not compiled.

    Raises:
        RuntimeError: on Keras 3 (TF-MOT needs tf_keras; the message says how to
            switch).
        TypeError: `student` is not a tf_keras model, or is subclassed; a
            non-integer `number_of_clusters`.
        ValueError: too few clusters, an unknown `init`, a `skip_layers` name
            that is not a layer, or layers TF-MOT cannot cluster (all named).

    Example:
    ```python
    from keras_distill.compress import cluster, strip_clustering

    clustered = cluster(distilled_student, number_of_clusters=16)
    distiller = Distiller(student=clustered, teacher=teacher)
    distiller.compile(optimizer=keras.optimizers.Adam(1e-4), loss=loss)
    distiller.fit(x, y, epochs=2)
    final = strip_clustering(distiller.student)
    ```
    """
    tfmot = import_tfmot()
    _checks.check_student(student, "student", "cluster")
    if not isinstance(preserve_sparsity, bool):
        raise TypeError(
            f"`preserve_sparsity` must be a bool, got {preserve_sparsity!r}."
        )
    check_int("number_of_clusters", number_of_clusters, 1)
    minimum = 3 if preserve_sparsity else 2
    if number_of_clusters < minimum:
        why = " with preserve_sparsity=True (zero keeps its own)"
        why = why if preserve_sparsity else ""
        raise ValueError(
            f"`number_of_clusters` must be >= {minimum}{why}, got {number_of_clusters}."
        )
    if init not in CENTROID_INITS:
        raise ValueError(
            f"`init` must be one of {sorted(CENTROID_INITS)}, got {init!r}."
        )
    skip = _checks.check_layer_names(student, skip_layers, "skip_layers")
    clustering = tfmot.clustering.keras
    centroid_init = getattr(clustering.CentroidInitialization, CENTROID_INITS[init])

    def wrap(layer):
        return clustering.cluster_weights(
            layer,
            number_of_clusters=int(number_of_clusters),
            cluster_centroids_init=centroid_init,
            preserve_sparsity=preserve_sparsity,
        )

    return _layers.wrap_layers(
        _layers.copy_model(student),
        wrap,
        skip,
        action="cluster",
        fix="Pass their names in `skip_layers` to keep them unclustered, or "
        "implement `tfmot.clustering.keras.ClusterableLayer` in your layer class.",
    )


def strip_clustering(model):
    """Removes the clustering wrappers, keeping the clustered weights.

    Call it after training and before export or cluster-preserving QAT.

    Args:
        model: a Functional or Sequential tf_keras model, usually the output of
            `cluster` after training (e.g. `distiller.student`).

    Returns:
        A model with the original layer types whose kernels hold at most
        `number_of_clusters` distinct values each.

    Raises:
        RuntimeError: on Keras 3 (TF-MOT needs tf_keras).
        TypeError: `model` is not a tf_keras model, or is subclassed.

    Example:
    ```python
    final = strip_clustering(distiller.student)
    ```
    """
    tfmot = import_tfmot()
    _checks.check_student(
        model,
        "model",
        "strip",
        allow=("ClusterWeights", "ClusterWeightsRNN", "ClusterWeightsMHA"),
    )
    return tfmot.clustering.keras.strip_clustering(model)

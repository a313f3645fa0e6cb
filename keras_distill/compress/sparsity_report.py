"""Per-layer sparsity measured from a model's weights.

A pruning schedule says what sparsity was asked for; this counts the exact
zeros actually present, so it is the number to trust (and the one that gzip and
sparse kernels benefit from). It needs neither TF-MOT nor tf_keras: it works on
pruning-wrapped, stripped, quantization-aware and plain models of either Keras
(on Keras 3, every layer of our QAT engine counts as the float layer it stands
for: Conv/Dense, Embedding, EinsumDense, MultiHeadAttention, LSTM and GRU).
"""

import numpy as np

from keras_distill import _compat
from keras_distill._compat import keras
from keras_distill.compress import _engine
from keras_distill.compress import _layers


def sparsity_report(model) -> dict[str, dict]:
    """Measures, per layer, the fraction of exact zeros in its kernels.

    Counted are the layer's weights of rank >= 2 (kernels, embeddings,
    recurrent kernels): the weights TF-MOT prunes. Biases (even of rank 2, as
    MultiHeadAttention's) and normalization parameters are left out, as TF-MOT
    does not prune them. Wrapped layers
    (pruning, QAT, clustering) are reported under the wrapped layer's own name,
    so a pruned model and its stripped copy give the same keys; layers of
    nested models are named `"<model name>/<layer name>"`. A model still
    wrapped for clustering (or cluster-preserving QAT) computes its kernels
    from centroids at run time, so this measures the stored kernels: measure
    after `strip_clustering`.

    Args:
        model: a built Keras model (Keras 3 or tf_keras).

    Returns:
        A dict `layer name -> {"sparsity": float, "zeros": int, "params": int,
        "structured_2_4": bool | None}` for every layer with kernels, in layer
        order. `sparsity = zeros / params`. `structured_2_4` says whether every
        group of 4 consecutive input-channel weights (TFLite's layout, as in
        TF-MOT's `sparsity_m_by_n=(2, 4)`) holds at least 2 zeros; None for
        kernels that are not rank 2 or 4. The overall sparsity is
        `sum(zeros) / sum(params)` over the entries.

    Raises:
        TypeError: `model` is not a Keras model of the flavour in use.
        ValueError: `model` is not built.

    Example:
    >>> report = sparsity_report(strip_pruning(distiller.student))  # doctest: +SKIP
    >>> report["dense"]["sparsity"]  # doctest: +SKIP
    0.8
    """
    _compat.check_model(model, "model")
    if not model.built:
        raise ValueError(
            "`model` is not built, so it has no weights to measure. Build it "
            "(e.g. call it on a batch) first."
        )
    report = {}
    _add_layers(model, "", report)
    return report


def _add_layers(model, prefix: str, report: dict) -> None:
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            _add_layers(layer, f"{prefix}{layer.name}/", report)
            continue
        inner = _layers.inner_layer(layer)
        name, weights = inner.name, layer.weights
        native = _engine.native_float_layer(layer)
        if native is not None:
            # Our Keras 3 QAT layers: the float layer's own weights, under its
            # own name; their masks of the zeros (pruning-preserving QAT) and
            # quantizer state are not kernels.
            name, weights = native
        elif inner is not layer:
            # A TF-MOT wrapper holds the wrapped layer's kernels next to state of
            # its own (pruning masks, cluster indices, quantizer ranges, the
            # latent weights of cluster-preserving QAT), all created
            # non-trainable or under the wrapper's name. (The QAT wrapper even
            # detaches the kernel from the wrapped layer, so the wrapper's list is
            # the one to read.)
            own = f"{layer.name}/"
            weights = [w for w in weights if w.trainable and not w.name.startswith(own)]
        kernels = [
            np.asarray(w.numpy())
            for w in weights
            if len(w.shape) >= 2 and not _is_bias(w)
        ]
        if not kernels:
            continue
        zeros = sum(int(np.count_nonzero(k == 0)) for k in kernels)
        params = sum(int(k.size) for k in kernels)
        report[f"{prefix}{name}"] = {
            "sparsity": zeros / params,
            "zeros": zeros,
            "params": params,
            "structured_2_4": _is_2_by_4(kernels),
        }


def _is_bias(variable) -> bool:
    """Whether `variable` is a bias: MultiHeadAttention's and EinsumDense's are
    rank 2 (heads x head size), and zero when initialized."""
    return variable.name.split("/")[-1].split(":")[0] == "bias"


def _is_2_by_4(kernels: list[np.ndarray]) -> bool | None:
    """Whether every kernel has >= 2 zeros in each 4 consecutive input weights."""
    if any(k.ndim not in (2, 4) for k in kernels):
        return None
    for kernel in kernels:
        # TFLite stores Dense kernels as [out, in] and Conv2D kernels as
        # [out, h, w, in]; the 2:4 groups run along the last (input) axis.
        rows = np.moveaxis(kernel, -1, 0).reshape(-1, kernel.shape[-2])
        pad = (-rows.shape[1]) % 4
        rows = np.pad(rows, ((0, 0), (0, pad)), constant_values=0.0)
        groups = rows.reshape(rows.shape[0], -1, 4)
        if np.any(np.count_nonzero(groups, axis=-1) > 2):
            return False
    return True

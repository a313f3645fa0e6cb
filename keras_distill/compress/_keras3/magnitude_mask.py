"""The pruning mask of one kernel, kept up to date by the optimizer.

`MagnitudeMask` is a Keras constraint: Keras 3 optimizers run
`variable.assign(variable.constraint(variable))` after every gradient update
(`keras/src/optimizers/base_optimizer.py`, `apply`), inside the compiled train
step, before they count the update in `optimizer.iterations`.

Step semantics are TF-MOT 0.8's (`pruning_wrapper.py`, since commit 782fd70):
training batch k (k = 1, 2, ...) first updates the mask if
`schedule(k)[0]`, from the weights after k - 1 optimizer updates, then masks the
weights and runs the forward pass. Here k = `optimizer.iterations + 1`: the
`UpdatePruningStep` callback does step k eagerly before the first batch, and
the constraint that runs after update k - 1 does step k (so it uses
`iterations + 2`, the optimizer counting the update after the constraints).
The one difference: after the very last update of `fit`, the constraint also
does the next step, which TF-MOT would do at the start of a later `fit`.
Masks: unstructured as TF-MOT's `pruning_impl.Pruning._update_mask`; `m_by_n`
as `pruning_utils.generate_m_by_n_mask`, computed once, before the first batch
(TF-MOT: "Update structured sparsity masks only at step 1").
"""

import numpy as np

from keras_distill._compat import keras

MISSING_CALLBACK = (
    "This model was pruned with keras_distill.compress.prune, but it is being "
    "trained without the UpdatePruningStep callback, which gives its pruning "
    "masks the training step: train a pruned model with "
    "callbacks=keras_distill.compress.pruning_callbacks(). No weight has "
    "changed, but compile the model again first: Keras built its optimizer in "
    "the train step that this error stopped."
)


def magnitude_mask(weights, sparsity):
    """TF-MOT's `_update_mask`: keep the k largest |w|, k = round(n(1 - s)).

    Returns `(mask, threshold)`: `mask = |w| >= threshold`, where `threshold` is
    the k-th largest |w| and `k = max(round(size * (1 - sparsity)), 1)` in
    float32 (TF-MOT also ORs in the threshold's own position, which `>=`
    already keeps). Ties at the threshold are all kept, as in TF-MOT.
    """
    magnitudes = keras.ops.abs(weights)
    size = int(np.prod(weights.shape))
    keep = keras.ops.cast(
        keras.ops.maximum(keras.ops.round(float(size) * (1.0 - sparsity)), 1.0), "int32"
    )
    threshold = keras.ops.take(
        keras.ops.sort(keras.ops.reshape(magnitudes, [-1])), size - keep
    )
    return keras.ops.cast(magnitudes >= threshold, weights.dtype), threshold


def m_by_n_mask(weights, m_by_n):
    """TF-MOT's `generate_m_by_n_mask`: m zeros in every n input weights.

    Groups run along the input-channel axis of TFLite's layout ([out, in] for
    Dense, [out, h, w, in] for Conv2D; `pruning_utils.weights_rearrange`); in
    each group the n - m largest |w| are kept (`top_k`, ties to the first).
    """
    zeros, n = m_by_n
    shape = tuple(weights.shape)
    if len(shape) == 2:
        rows = keras.ops.transpose(weights)
    else:
        rows = keras.ops.reshape(
            keras.ops.transpose(weights, [3, 0, 1, 2]), [-1, shape[2]]
        )
    width = rows.shape[1]
    # TF-MOT pads n - width % n zeros (a whole extra group if width % n == 0).
    padded = keras.ops.pad(keras.ops.abs(rows), [[0, 0], [0, n - width % n]])
    _, keep = keras.ops.top_k(
        keras.ops.reshape(padded, [-1, n]), k=n - zeros, sorted=False
    )
    groups = keras.ops.sum(keras.ops.one_hot(keep, n, dtype=weights.dtype), axis=-2)
    mask = keras.ops.reshape(groups, padded.shape)[:, :width]
    if len(shape) == 2:
        return keras.ops.transpose(mask)
    return keras.ops.transpose(
        keras.ops.reshape(mask, (shape[3],) + shape[:3]), [1, 2, 3, 0]
    )


@keras.saving.register_keras_serializable(package="keras_distill")
class PruningState(keras.layers.Layer):
    """The mask and threshold of one pruned kernel, as weights checkpoints keep.

    TF-MOT's `PruneLowMagnitude` keeps `mask`, `threshold` and `pruning_step`
    as weights of its wrapper, so `save_weights`, `BackupAndRestore` and
    `ModelCheckpoint` keep them. `prune` attaches one `PruningState` per kernel
    to the layer that owns the kernel, as a plain attribute (`_pruning_states`,
    not a tracked sublayer): Keras' saving walks every attribute that is a
    Keras object, so the state is written under the layer's path and restored
    by `load_weights` into a pruned model, while the layer's own weights and
    config stay those of the plain layer, so a saved pruned model reloads
    as a plain one, and the plain model's weights load into a pruned one.
    The step is the optimizer's `iterations`, which those checkpoints keep
    too.

    Args:
        shape: tuple, the kernel's shape. Defaults to `()`.
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`).
    """

    def __init__(self, shape=(), **kwargs):
        super().__init__(**kwargs)
        self.shape = tuple(shape)
        self.mask = self.add_weight(
            shape=self.shape, initializer="ones", trainable=False, name="mask"
        )
        self.threshold = self.add_weight(
            shape=(), initializer="zeros", trainable=False, name="threshold"
        )
        self.built = True

    def load_own_variables(self, store):
        # Weights saved from the plain model have no pruning state: loading
        # them into a pruned model keeps its masks as they are.
        if len(store.keys()):
            super().load_own_variables(store)

    def get_config(self):
        return {**super().get_config(), "shape": self.shape}


class MagnitudeMask(keras.constraints.Constraint):
    """The pruning of one kernel, applied after every optimizer update.

    `prune` sets it as `variable.constraint`; `UpdatePruningStep` binds it to
    the optimizer's step counter. It first applies the constraint the variable
    already had, then updates the mask when the schedule says so and returns
    `weights * mask`. The mask and threshold are the weights of `self.state`, a
    `PruningState` that `prune` attaches to the kernel's layer, so checkpoints
    keep them. The constraint itself is not serializable on purpose: the
    layer's config keeps its own constraint, and a reloaded model is a plain
    (sparse) model.

    Args:
        variable: the kernel variable to prune.
        schedule: a `PruningSchedule`.
        m_by_n: None, or `(m, n)` for m zeros in every n input weights.
            Defaults to None.
        constraint: the variable's previous constraint, or None. Defaults to
            None.
    """

    def __init__(self, variable, schedule, m_by_n=None, constraint=None):
        self.schedule = schedule
        self.m_by_n = m_by_n
        self.constraint = constraint
        self.path = variable.path
        self.state = PruningState(
            variable.shape, dtype=variable.dtype, name=f"{variable.name}_pruning"
        )
        self.mask = self.state.mask
        self.threshold = self.state.threshold
        self.iterations = None
        # Set when training started without the callback (see MISSING_CALLBACK).
        self.stopped_a_train_step = False
        self.m_by_n_done = False

    def __call__(self, weights):
        if self.iterations is None:
            self.stopped_a_train_step = True
            raise RuntimeError(MISSING_CALLBACK)
        if self.constraint is not None:
            weights = self.constraint(weights)
        if self.m_by_n is None:
            self.update(weights, self.iterations + 2)
        return weights * self.mask

    def start(self, variable, iterations) -> None:
        """Binds the step counter, then does step `iterations + 1` eagerly."""
        self.iterations = iterations
        if self.m_by_n is None:
            self.update(variable, iterations + 1)
        elif not self.m_by_n_done:
            self.mask.assign(m_by_n_mask(variable, self.m_by_n))
            self.m_by_n_done = True
        variable.assign(variable * self.mask)

    def update(self, weights, step) -> None:
        """Recomputes the mask from `weights` if `schedule(step)` says so."""
        should_prune, sparsity = self.schedule(step)
        mask, threshold = keras.ops.cond(
            should_prune,
            lambda: magnitude_mask(weights, sparsity),
            lambda: (self.mask.value, self.threshold.value),
        )
        self.mask.assign(mask)
        self.threshold.assign(threshold)

"""Magnitude pruning of Keras 3 models: TF-MOT's algorithm, without wrappers.

TF-MOT wraps each layer in `PruneLowMagnitude`, which rebuilds the model from
its layer graph (so subclassed models cannot be pruned) and changes the layer
types until `strip_pruning`. Here the student keeps its own layers: each pruned
kernel variable gets a `MagnitudeMask` Keras constraint. Keras 3 optimizers run
`variable.assign(variable.constraint(variable))` after every gradient update
(`keras/src/optimizers/base_optimizer.py`, `apply`), inside the compiled train
step, so the mask is updated and applied at every step by any trainer that
calls `optimizer.apply_gradients`, `keras_distill.Distiller` included. Each
mask and threshold is a weight of a `PruningState` attached to the kernel's
layer, outside the layer's own weights: checkpoints (`save_weights`,
`BackupAndRestore`) keep them and restore them into a pruned model, and a
saved `.keras` file reloads as a plain model (with its zeros).

Step semantics and masks follow TF-MOT exactly: see `magnitude_mask.py`.
"""

from collections.abc import Iterable

from keras_distill import _compat
from keras_distill._compat import keras
from keras_distill.compress import _layers
from keras_distill.compress._keras3.magnitude_mask import MagnitudeMask
from keras_distill.compress._keras3.pruning_schedule import PruningSchedule

# TF-MOT's prune_registry.PruneRegistry, for the Keras 3 layers it names. Exact
# classes, as in TF-MOT: a subclass may use its kernel differently, so it opts
# in with `get_prunable_weights()`. An empty tuple is a layer TF-MOT keeps
# dense on purpose (depthwise kernels are tiny and sensitive).
PRUNABLE_WEIGHTS = {
    keras.layers.Conv1D: ("kernel",),
    keras.layers.Conv2D: ("kernel",),
    keras.layers.Conv2DTranspose: ("kernel",),
    keras.layers.Conv3D: ("kernel",),
    keras.layers.Conv3DTranspose: ("kernel",),
    keras.layers.Dense: ("kernel",),
    keras.layers.DepthwiseConv2D: (),
    keras.layers.Embedding: ("embeddings",),
    keras.layers.SeparableConv1D: ("pointwise_kernel",),
    keras.layers.SeparableConv2D: ("pointwise_kernel",),
    keras.layers.MultiHeadAttention: tuple(
        f"_{name}_dense.kernel" for name in ("query", "key", "value", "output")
    ),
    keras.layers.GRUCell: ("kernel", "recurrent_kernel"),
    keras.layers.LSTMCell: ("kernel", "recurrent_kernel"),
    keras.layers.SimpleRNNCell: ("kernel", "recurrent_kernel"),
}


def prunable_weights(layer) -> list:
    """The kernels of `layer` that pruning sets to zero.

    Args:
        layer: a Keras 3 layer.

    Returns:
        `layer.get_prunable_weights()` if the layer defines it (TF-MOT's
        `PrunableLayer` protocol), else the kernels `PRUNABLE_WEIGHTS` names
        for its exact class; `[]` for other layers.

    Example:
    >>> dense = keras.layers.Dense(2)
    >>> dense.build((None, 3))
    >>> [w.name for w in prunable_weights(dense)]
    ['kernel']
    """
    if hasattr(layer, "get_prunable_weights"):
        return list(layer.get_prunable_weights())
    weights = []
    for path in PRUNABLE_WEIGHTS.get(type(layer), ()):
        owner = layer
        for attribute in path.split("."):
            owner = getattr(owner, attribute)
        weights.append(owner)
    return weights


class UpdatePruningStep(keras.callbacks.Callback):
    """Required while training a pruned model: gives the masks the step.

    TF-MOT's callback of the same name. At the start of training it finds
    every `MagnitudeMask` among the model's trainable variables (the model may
    be a `Distiller`, whose trainable variables are the student's), binds each
    to `model.optimizer.iterations`, and does the first step's mask update and
    masking eagerly, before the first forward pass, as TF-MOT does.

    The step is the optimizer's, so a later `fit` continues the schedule; but
    compiling with a new optimizer restarts it (TF-MOT 0.8 keeps a counter of
    its own in each wrapper), and a restarted `PolynomialDecay` lets pruned
    weights grow back until its sparsity catches up again.

    Raises:
        ValueError: at the start of training, if the model has no pruned
            kernel (it was not returned by `prune`, or was stripped).
    """

    def on_train_begin(self, logs=None):
        masks = pruned_variables(self.model, trainable_only=True)
        if not masks:
            raise ValueError(
                "UpdatePruningStep found no pruned kernel among the trainable "
                f"variables of {self.model.name!r}. Train the model returned by "
                "keras_distill.compress.prune (or a Distiller whose student it "
                "is), and leave its pruned layers trainable."
            )
        optimizer = self.model.optimizer
        if optimizer.built and any(m.stopped_a_train_step for _, m in masks):
            # Keras builds the optimizer inside the first train step; when
            # MagnitudeMask stopped that step, the optimizer's state is unusable
            # (TensorFlow fails later with "Incompatible shapes ... vs. [0]").
            raise RuntimeError(
                "The last training of this pruned model stopped because it had "
                "no UpdatePruningStep callback, which left its optimizer "
                "half-built. Compile the model again, then train it with "
                "callbacks=keras_distill.compress.pruning_callbacks()."
            )
        for variable, mask in masks:
            mask.stopped_a_train_step = False
            mask.start(variable, optimizer.iterations)


class PruningSummaries(keras.callbacks.Callback):
    """Writes each pruned kernel's sparsity and threshold to TensorBoard.

    Like TF-MOT's callback of the same name: scalars `<variable path>/sparsity`
    (1 - mean of the mask) and `<variable path>/threshold`, at the optimizer
    step, under `<log_dir>/metrics`, at the end of every epoch. 2:4 masks have
    no threshold, so only their sparsity is written.

    Args:
        log_dir: str, the TensorBoard log directory.
    """

    def __init__(self, log_dir):
        super().__init__()
        self.log_dir = log_dir
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(f"{self.log_dir}/metrics")
        step = int(self.model.optimizer.iterations)
        with self._writer.as_default():
            for _, mask in pruned_variables(self.model):
                sparsity = 1.0 - float(keras.ops.mean(mask.mask))
                tf.summary.scalar(f"{mask.path}/sparsity", sparsity, step=step)
                if mask.m_by_n is None:
                    tf.summary.scalar(
                        f"{mask.path}/threshold", float(mask.threshold), step=step
                    )
        self._writer.flush()


def pruning_callbacks(log_dir: str | None = None) -> list:
    """The callbacks a pruned model trains with.

    Args:
        log_dir: str, a TensorBoard directory for `PruningSummaries`; None
            leaves it out. Defaults to None.

    Returns:
        `[UpdatePruningStep()]`, plus `PruningSummaries(log_dir)` if `log_dir`.

    Example:
    >>> [type(c).__name__ for c in pruning_callbacks()]
    ['UpdatePruningStep']
    """
    callbacks = [UpdatePruningStep()]
    if log_dir is not None:
        callbacks.append(PruningSummaries(log_dir))
    return callbacks


def pruned_variables(model, trainable_only=False) -> list:
    """`(variable, MagnitudeMask)` for every pruned kernel of `model`."""
    variables = model.trainable_variables if trainable_only else model.variables
    found = {}
    for variable in variables:
        if isinstance(variable.constraint, MagnitudeMask):
            found[id(variable)] = (variable, variable.constraint)
    return list(found.values())


def is_pruned(model: keras.Model) -> bool:
    """Whether `model` has live pruning state (kernels with a `MagnitudeMask`).

    Example:
    >>> is_pruned(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]))
    False
    """
    return bool(pruned_variables(model))


def prune(
    student,
    schedule: PruningSchedule,
    *,
    m_by_n: tuple[int, int] | None = None,
    skip_layers: Iterable[str] = (),
) -> keras.Model:
    """A copy of `student` whose kernels are magnitude-pruned while it trains.

    Every kernel that `prunable_weights` names (in nested models and
    sublayers too, subclassed models included) gets a `MagnitudeMask`. Train
    the result with `callbacks=pruning_callbacks()` (`fit` or `Distiller.fit`),
    then call `strip_pruning`. `student` itself is not modified.

    Args:
        student: a built Keras 3 model: Functional, Sequential, or subclassed
            with a working `get_config()`.
        schedule: a `PruningSchedule` (`ConstantSparsity`, `PolynomialDecay`).
        m_by_n: None for unstructured pruning, or `(m, n)`, e.g. `(2, 4)`, for
            m zeros in every n input-channel weights (rank-2 and rank-4
            kernels only). As in TF-MOT, this mask is computed once, before
            the first training batch, and `schedule` is not used. Defaults to
            None.
        skip_layers: names of layers to keep dense. Defaults to `()`.

    Returns:
        The pruned copy, not compiled.

    Raises:
        TypeError: a subclassed `student` that cannot be copied.
        ValueError: layers with kernels (trainable weights of rank >= 2) that
            the engine cannot prune, all named; with `m_by_n`, pruned kernels
            that are not rank 2 or 4.

    Example:
    ```python
    import keras
    import numpy as np
    from keras_distill.compress import sparsity_report
    from keras_distill.compress._keras3.pruning import prune
    from keras_distill.compress._keras3.pruning import pruning_callbacks
    from keras_distill.compress._keras3.pruning import strip_pruning
    from keras_distill.compress._keras3.pruning_schedule import PolynomialDecay

    student = keras.Sequential(
        [keras.Input((12,)), keras.layers.Dense(16), keras.layers.Dense(3)]
    )
    x, y = np.random.rand(256, 12), np.random.randint(0, 3, 256)
    # 256 / 32 = 8 steps per epoch, 3 epochs: the target is reached at step 24.
    schedule = PolynomialDecay(0.0, 0.8, begin_step=0, end_step=24, frequency=6)
    pruned = prune(student, schedule)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    pruned.compile(optimizer="adam", loss=loss)
    pruned.fit(x, y, batch_size=32, epochs=3, callbacks=pruning_callbacks())
    # 154 of 192 and 38 of 48 weights are zero: round(n * 0.2) are kept.
    print(sparsity_report(strip_pruning(pruned)))
    ```
    """
    copy = _copy(student)
    kernels, unknown = _find_kernels(copy, set(skip_layers))
    if unknown:
        raise ValueError(
            "The Keras 3 pruning engine cannot prune these layers, which have "
            f"kernels it does not know: {', '.join(map(_layers.describe, unknown))}. "
            "List them in `skip_layers` to keep them dense, or give their class "
            "a `get_prunable_weights()` method returning the kernels to prune."
        )
    if m_by_n is not None:
        bad = [
            f"{_layers.describe(layer)} kernel shape {tuple(weight.shape)}"
            for layer, weight in kernels
            if len(weight.shape) not in (2, 4)
        ]
        if bad:
            raise ValueError(
                f"{m_by_n[0]}:{m_by_n[1]} sparsity supports rank-2 and rank-4 "
                f"kernels only (Dense, Conv2D), not {'; '.join(bad)}. List these "
                "layers in `skip_layers` to keep them dense, or use structure=None."
            )
    states = {}
    for layer, weight in kernels:
        weight.constraint = MagnitudeMask(weight, schedule, m_by_n, weight.constraint)
        states.setdefault(id(layer), (layer, []))[1].append(weight.constraint.state)
    for layer, layer_states in states.values():
        # Not `layer._pruning_states = ...`: Keras would track the states as
        # sublayers, adding their weights to the layer's own (see PruningState).
        object.__setattr__(layer, "_pruning_states", layer_states)
    return copy


def strip_pruning(model: keras.Model) -> keras.Model:
    """A plain copy of `model`: kernels times their masks, no pruning state.

    The copy has the same layer types and each kernel's original constraint;
    a model with nothing to strip comes back as an equivalent copy.

    Args:
        model: a built Keras 3 model, usually the trained output of `prune`.

    Returns:
        The stripped copy.

    Raises:
        TypeError: a subclassed `model` that cannot be copied.

    Example:
    ```python
    final = strip_pruning(distiller.student)
    ```
    """
    masked = {
        id(variable): keras.ops.convert_to_numpy(variable * mask.mask)
        for variable, mask in pruned_variables(model)
    }
    return _copy(model, [masked.get(id(w)) for w in model.weights])


def _find_kernels(model, skip):
    """`(layer, kernel)` pairs to prune, and the layers with unknown kernels."""
    kernels, unknown, seen = [], [], set()

    def visit(layer):
        if id(layer) in seen or layer.name in skip:
            return
        seen.add(id(layer))
        if hasattr(layer, "get_prunable_weights") or type(layer) in PRUNABLE_WEIGHTS:
            # Frozen kernels are never updated, so their constraint never runs.
            kernels.extend((layer, w) for w in prunable_weights(layer) if w.trainable)
            return
        sublayers = _compat.sublayers(layer, recursive=False)
        for sublayer in sublayers:
            visit(sublayer)
        inner = {id(w) for sub in sublayers for w in sub.trainable_weights}
        if any(
            id(w) not in inner and len(w.shape) >= 2 for w in layer.trainable_weights
        ):
            unknown.append(layer)

    visit(model)
    return kernels, unknown


def _copy(model, values=None):
    """A new model with `model`'s architecture and weights (`values` override).

    Functional and Sequential models are cloned layer by layer (recursively,
    so nested models are not shared); a subclassed model is rebuilt from its
    `get_config()` and build config.
    """
    if _layers.is_graph_model(model):
        copy = keras.models.clone_model(model, recursive=True)
    else:
        try:
            copy = type(model).from_config(model.get_config())
            if model.get_build_config():
                copy.build_from_config(model.get_build_config())
        except (NotImplementedError, TypeError, ValueError) as error:
            raise TypeError(
                f"Cannot copy the subclassed model {model.name!r} "
                f"({type(model).__name__}), and pruning works on a copy so "
                "that your model is not modified. Implement `get_config()` "
                "(and `from_config()` if its arguments are not plain values) so "
                f"that `{type(model).__name__}.from_config(model.get_config())` "
                f"rebuilds it. ({type(error).__name__}: {str(error)[:200]})"
            ) from error
    source = model.weights
    if [tuple(w.shape) for w in copy.weights] != [tuple(w.shape) for w in source]:
        raise TypeError(
            f"The copy of {model.name!r} ({type(model).__name__}) rebuilt from "
            "its config has different weights than the model; its get_config() "
            "does not describe it fully. Fix get_config() so that it does."
        )
    if {id(w) for w in copy.weights} & {id(w) for w in source}:
        raise TypeError(
            f"Copying {model.name!r} shares layers with it, so pruning the copy "
            "would change your model. Build the model without reusing layer "
            "objects across models."
        )
    values = values or [None] * len(source)
    _layers.set_weights(
        copy, [w.numpy() if v is None else v for w, v in zip(source, values)]
    )
    return copy

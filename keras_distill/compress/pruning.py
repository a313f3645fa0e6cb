"""Magnitude pruning of a student while it is distilled (thin over TF-MOT).

The student is wrapped with `tfmot.sparsity.keras.prune_low_magnitude`, trained
(distilled) with TF-MOT's `UpdatePruningStep` callback, and stripped of the
wrappers before export. TF-MOT works only with tf_keras: run with
`TF_USE_LEGACY_KERAS=1` (see keras_distill/_compat.py).

Layers: every layer whose weights TF-MOT's pruning registry knows (Dense, Conv,
Embedding, RNNs, MultiHeadAttention, ...) or that implements
`tfmot.sparsity.keras.PrunableLayer` is wrapped. Layers without weights are
kept as they are; layers TF-MOT deliberately leaves dense (BatchNormalization,
DepthwiseConv2D, LayerNormalization, ...) get a wrapper that prunes nothing, as
TF-MOT's own `prune_low_magnitude` does. A layer with trainable weights that
TF-MOT cannot prune is an error naming it; list it in `skip_layers` to keep it
dense.
"""

import importlib.util
import math
import numbers
import os

from keras_distill._checks import check_int
from keras_distill._compat import import_tfmot
from keras_distill.compress import _layers

SCHEDULES = ("polynomial", "constant")
STRUCTURES = (None, "2:4")


def pruning_end_step(
    epochs: int, steps_per_epoch: int, *, begin_step: int = 0, frequency: int = 100
) -> int:
    """The last training step at which a pruning schedule can reach its target.

    TF-MOT updates the pruning masks every `frequency` steps counted from
    `begin_step`. A `"polynomial"` schedule whose `end_step` falls between two
    updates never reaches its target sparsity; this helper returns the last
    update step within `epochs * steps_per_epoch` training steps, so it does.

    Args:
        epochs: int, how many epochs the pruned student will be trained.
        steps_per_epoch: int, batches per epoch, e.g.
            `math.ceil(len(x_train) / batch_size)`.
        begin_step: int, the step at which pruning starts. Defaults to 0.
        frequency: int, steps between mask updates. Defaults to 100.

    Returns:
        The `end_step` to pass to `prune`.

    Raises:
        ValueError: if an argument is not a positive integer (`begin_step` may be
            0), or training is too short for a single mask update after
            `begin_step`.

    Example:
    >>> pruning_end_step(epochs=4, steps_per_epoch=125, frequency=50)
    500
    >>> pruning_end_step(epochs=3, steps_per_epoch=125, frequency=50)
    350
    """
    for name, value, low in (
        ("epochs", epochs, 1),
        ("steps_per_epoch", steps_per_epoch, 1),
        ("begin_step", begin_step, 0),
        ("frequency", frequency, 1),
    ):
        check_int(name, value, low)
    total = epochs * steps_per_epoch
    end_step = begin_step + (total - begin_step) // frequency * frequency
    if end_step <= begin_step:
        raise ValueError(
            f"Training for {total} steps (epochs={epochs} x steps_per_epoch="
            f"{steps_per_epoch}) leaves no mask update after begin_step="
            f"{begin_step} with frequency={frequency}. Train longer, or lower "
            "`frequency` or `begin_step`."
        )
    return end_step


def prune(
    student,
    *,
    target_sparsity: float | None = None,
    schedule: str | None = None,
    initial_sparsity: float = 0.0,
    begin_step: int = 0,
    end_step: int | None = None,
    frequency: int = 100,
    structure: str | None = None,
    skip_layers: list[str] | None = None,
):
    """Wraps a copy of `student` for magnitude pruning during training.

    Use it on a Functional or Sequential tf_keras student (trained or not),
    then distil or fit the returned model with `pruning_callbacks()`, and call
    `strip_pruning` before export. `student` itself is not modified.

    Args:
        student: a built Functional or Sequential tf_keras model.
        target_sparsity: float in [0, 1), the fraction of each pruned kernel set
            to zero at the end of the schedule. Defaults to 0.8, or to 0.5 (the
            only value allowed) with `structure="2:4"`.
        schedule: `"polynomial"` (TF-MOT `PolynomialDecay`: sparsity rises from
            `initial_sparsity` to `target_sparsity` between `begin_step` and
            `end_step`, cubically, so most weights go early and the network
            recovers by the end) or `"constant"` (`ConstantSparsity`: prune to
            `target_sparsity` at every update from `begin_step`). Defaults to
            `"polynomial"`, or to `"constant"` with `structure="2:4"` (whose
            mask is 2:4 at every update, with nothing to ramp up).
        initial_sparsity: float in [0, target_sparsity], where the polynomial
            schedule starts. Defaults to 0.0.
        begin_step: int >= 0, the training step at which pruning starts.
            Defaults to 0.
        end_step: int, the step at which pruning ends. Required for
            `"polynomial"` (use `pruning_end_step`); for `"constant"`, None means
            never end. Defaults to None.
        frequency: int >= 1, training steps between mask updates. Defaults to
            100.
        structure: None for unstructured pruning, or `"2:4"` for 2 zeros in
            every 4 consecutive input-channel weights (TF-MOT `sparsity_m_by_n`,
            for hardware with 2:4 sparse kernels; Dense and Conv2D kernels
            only). Defaults to None.
        skip_layers: names of layers to keep dense (e.g. a small first layer,
            or layers TF-MOT cannot prune). Defaults to None.

    Returns:
        A new model whose prunable layers are `PruneLowMagnitude` wrappers
        (named `prune_low_magnitude_<layer name>`). It is not compiled.

    Raises:
        RuntimeError: on Keras 3 (TF-MOT needs tf_keras; the message says how to
            switch).
        TypeError: `student` is not a tf_keras model, or is subclassed.
        ValueError: a sparsity outside [0, 1), an invalid schedule, a
            `skip_layers` name that is not a layer, or layers TF-MOT cannot prune
            (all named).

    Example:
    ```python
    import math
    from keras_distill.compress import prune, pruning_callbacks, pruning_end_step
    from keras_distill.compress import sparsity_report, strip_pruning

    end = pruning_end_step(epochs=4, steps_per_epoch=math.ceil(4000 / 32))
    pruned = prune(student, target_sparsity=0.8, end_step=end)
    distiller = Distiller(student=pruned, teacher=teacher)
    distiller.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    distiller.fit(x, y, batch_size=32, epochs=4, callbacks=pruning_callbacks())
    final = strip_pruning(distiller.student)
    print(sparsity_report(final))
    ```
    """
    tfmot = import_tfmot()
    _layers.check_student(student, "student", "prune")
    target_sparsity = _check_structure(structure, target_sparsity)
    if schedule is None:
        schedule = "constant" if structure == "2:4" else "polynomial"
    pruning_schedule = _make_schedule(
        tfmot,
        schedule=schedule,
        target_sparsity=target_sparsity,
        initial_sparsity=initial_sparsity,
        begin_step=begin_step,
        end_step=end_step,
        frequency=frequency,
    )
    skip = _layers.check_layer_names(student, skip_layers, "skip_layers")
    m_by_n = (2, 4) if structure == "2:4" else None

    def wrap(layer):
        return tfmot.sparsity.keras.prune_low_magnitude(
            layer, pruning_schedule=pruning_schedule, sparsity_m_by_n=m_by_n
        )

    pruned = _layers.wrap_layers(
        _layers.copy_model(student),
        wrap,
        skip,
        action="prune",
        fix="Pass their names in `skip_layers` to keep them dense, or implement "
        "`tfmot.sparsity.keras.PrunableLayer` in your layer class.",
    )
    if m_by_n:
        _check_2_by_4_layers(pruned)
    return pruned


def pruning_callbacks(log_dir: str | None = None) -> list:
    """TF-MOT's callbacks for training a pruned model.

    `UpdatePruningStep` advances the pruning schedule every batch and is
    required; `PruningSummaries` writes each layer's mask sparsity and
    threshold to TensorBoard. Both work with `Distiller.fit` and `model.fit`.

    Args:
        log_dir: str or path-like, a TensorBoard log directory for
            `PruningSummaries`; None leaves it out. Defaults to None.

    Returns:
        `[UpdatePruningStep()]`, plus `PruningSummaries(log_dir)` if `log_dir`.

    Raises:
        RuntimeError: on Keras 3 (TF-MOT needs tf_keras).
        TypeError: `log_dir` is not a path.
        ImportError: `log_dir` is given but the `tensorboard` package, which
            writes the summaries, is not installed.

    Example:
    ```python
    distiller.fit(x, y, epochs=4, callbacks=pruning_callbacks("logs/prune"))
    ```
    """
    tfmot = import_tfmot()
    callbacks = [tfmot.sparsity.keras.UpdatePruningStep()]
    if log_dir is not None:
        try:
            log_dir = os.fspath(log_dir)
        except TypeError:
            raise TypeError(
                f"`log_dir` must be a directory path, got {type(log_dir).__name__}: "
                f"{log_dir!r}."
            ) from None
        # TensorFlow does not depend on TensorBoard; without it PruningSummaries
        # fails at the first epoch, after training has started.
        if not _tensorboard_installed():
            raise ImportError(
                "`log_dir` asks for PruningSummaries, which writes TensorBoard "
                "summaries and needs the `tensorboard` package: `pip install "
                "tensorboard`, or pass log_dir=None."
            )
        callbacks.append(tfmot.sparsity.keras.PruningSummaries(log_dir=log_dir))
    return callbacks


def strip_pruning(model):
    """Removes the pruning wrappers, keeping the pruned (sparse) weights.

    Call it after training and before export or quantization: the result has
    the original layer types, so `TFLiteConverter` and gzip see plain sparse
    kernels.

    Args:
        model: a Functional or Sequential tf_keras model, usually the output of
            `prune` after training (e.g. `distiller.student`).

    Returns:
        A model without `PruneLowMagnitude` wrappers; a model without wrappers
        comes back as an equivalent model.

    Raises:
        RuntimeError: on Keras 3 (TF-MOT needs tf_keras).
        TypeError: `model` is not a tf_keras model, or is subclassed.

    Example:
    ```python
    final = strip_pruning(distiller.student)
    ```
    """
    tfmot = import_tfmot()
    _layers.check_student(model, "model", "strip", allow=("PruneLowMagnitude",))
    return tfmot.sparsity.keras.strip_pruning(model)


def _tensorboard_installed() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


def _check_sparsity(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"`{name}` must be a float in [0, 1), got {type(value).__name__}: "
            f"{value!r}."
        )
    if not 0.0 <= value < 1.0 or math.isnan(value):
        raise ValueError(
            f"`{name}` must be in [0, 1) (the fraction of weights set to zero), got "
            f"{value}. For 80 % sparsity pass 0.8."
        )
    return float(value)


def _check_structure(structure, target_sparsity) -> float:
    """Validates `structure`; returns the target sparsity to use."""
    if structure not in STRUCTURES:
        raise ValueError(
            f"`structure` must be one of {STRUCTURES}, got {structure!r}. Use None "
            "for unstructured pruning or '2:4' for 2 zeros in every 4 weights."
        )
    if structure == "2:4":
        if target_sparsity is not None and target_sparsity != 0.5:
            raise ValueError(
                "`structure='2:4'` fixes the sparsity at 0.5 (2 zeros in every 4 "
                f"weights), but `target_sparsity` is {target_sparsity}. Leave "
                "`target_sparsity` out, or use structure=None for other sparsities."
            )
        return 0.5
    return _check_sparsity(
        "target_sparsity", 0.8 if target_sparsity is None else target_sparsity
    )


def _make_schedule(
    tfmot,
    *,
    schedule,
    target_sparsity,
    initial_sparsity,
    begin_step,
    end_step,
    frequency,
):
    """The TF-MOT pruning schedule, validated before anything is built."""
    check_int("begin_step", begin_step, 0)
    check_int("frequency", frequency, 1)
    if schedule == "constant":
        if end_step is not None:
            check_int("end_step", end_step, begin_step)
        return tfmot.sparsity.keras.ConstantSparsity(
            target_sparsity,
            begin_step=begin_step,
            end_step=-1 if end_step is None else end_step,
            frequency=frequency,
        )
    if schedule != "polynomial":
        raise ValueError(f"`schedule` must be one of {SCHEDULES}, got {schedule!r}.")
    initial_sparsity = _check_sparsity("initial_sparsity", initial_sparsity)
    if initial_sparsity > target_sparsity:
        raise ValueError(
            f"`initial_sparsity` ({initial_sparsity}) must not exceed "
            f"`target_sparsity` ({target_sparsity})."
        )
    if end_step is None:
        raise ValueError(
            "`end_step` is required for schedule='polynomial': the step at which "
            "the target sparsity is reached. Compute it with "
            "`pruning_end_step(epochs, steps_per_epoch, frequency=...)`, or use "
            "schedule='constant'."
        )
    check_int("end_step", end_step, begin_step + 1)
    # Masks change only every `frequency` steps from `begin_step`; an end_step
    # between two updates would stop short of the target without any warning.
    last_update = begin_step + (end_step - begin_step) // frequency * frequency
    if last_update != end_step:
        suggestion = (
            f"end_step={last_update}"
            if last_update > begin_step
            else "a smaller `frequency`"
        )
        raise ValueError(
            f"With begin_step={begin_step} and frequency={frequency}, masks are "
            f"updated at steps {begin_step}+k*{frequency}, so end_step={end_step} "
            f"is never reached and the sparsity would stop short of "
            f"{target_sparsity}. Use {suggestion} (`pruning_end_step` computes it)."
        )
    return tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=initial_sparsity,
        final_sparsity=target_sparsity,
        begin_step=begin_step,
        end_step=end_step,
        frequency=frequency,
    )


def _check_2_by_4_layers(pruned) -> None:
    """TF-MOT's 2:4 masks handle rank-2 and rank-4 kernels only (Dense, Conv2D)."""
    bad = [
        f"{layer.layer.name!r} ({type(layer.layer).__name__}, kernel shape "
        f"{tuple(weight.shape)})"
        for layer in _layers.walk_layers(pruned)
        if type(layer).__name__ == "PruneLowMagnitude"
        for weight in layer.prunable_weights
        if weight.shape.rank not in (2, 4)
    ]
    if bad:
        raise ValueError(
            f"TF-MOT's 2:4 sparsity supports Dense and Conv2D kernels only, not "
            f"{', '.join(bad)}. Pass their names in `skip_layers` to keep them "
            "dense, or use structure=None."
        )

"""Magnitude pruning of a student while it is distilled, on either Keras.

One API, two engines, picked by the Keras that keras_distill runs on (see
`compress/_engine.py`):

- Keras 3: our engine (`compress/_keras3/pruning.py`). It keeps the student's
  own layers and puts a magnitude mask on each prunable kernel, applied by the
  optimizer after every update (a Keras variable constraint), on TF-MOT's
  schedules and mask algorithm. It also prunes subclassed models.
- tf_keras (`TF_USE_LEGACY_KERAS=1`): TF-MOT's `prune_low_magnitude`, which
  wraps each prunable layer in `PruneLowMagnitude` (`compress/_tfmot.py`).

Either way: `prune` a copy of the student, train (distil) it with
`pruning_callbacks()`, and `strip_pruning` before export. These functions
check their arguments once, before anything is built, then call the engine.

Layers, the same on both engines (TF-MOT's `prune_registry`): the kernels of
Dense, Conv1D/2D/3D and their Transpose, the pointwise kernel of SeparableConv,
Embedding's table, the query/key/value/output kernels of MultiHeadAttention,
and the kernel and recurrent kernel of SimpleRNN, GRU and LSTM (inside
Bidirectional too on Keras 3; TF-MOT refuses Bidirectional). DepthwiseConv2D
kernels are kept dense (tiny and sensitive), and so are biases, normalization
layers and layers without weights.
A layer with trainable kernels that the engine cannot prune is an error naming
it; list it in `skip_layers` to keep it dense.
"""

import importlib.util
import os

from keras_distill._numbers import check_int
from keras_distill._numbers import check_real
from keras_distill._optional import missing_message
from keras_distill.compress import _checks
from keras_distill.compress import _engine

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

    Use it on a student (trained or not), then distil or fit the returned
    model with `pruning_callbacks()`, and call `strip_pruning` before export.
    `student` itself is not modified.

    Args:
        student: a built Keras model: Functional, Sequential or (Keras 3 only)
            subclassed.
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
            or layers the engine cannot prune). Defaults to None.

    Returns:
        A new model, not compiled. Keras 3: the same layers, each pruned kernel
        masked after every optimizer step (saved with `save`, it is a plain
        model with its zeros). tf_keras: prunable layers wrapped in TF-MOT's
        `PruneLowMagnitude` (named `prune_low_magnitude_<layer name>`).

    Raises:
        TypeError: `student` is not a model of the Keras in use, or (tf_keras)
            is subclassed.
        ValueError: a sparsity outside [0, 1), an invalid schedule, a
            `skip_layers` name that is not a layer, or layers the engine cannot
            prune (all named).

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
    engine = _engine.engine()
    _checks.check_student(
        student, "student", "prune", graph_only=not engine.PRUNES_SUBCLASSED
    )
    target_sparsity = _check_structure(structure, target_sparsity)
    if schedule is None:
        schedule = "constant" if structure == "2:4" else "polynomial"
    schedule_args = _check_schedule(
        schedule=schedule,
        target_sparsity=target_sparsity,
        initial_sparsity=initial_sparsity,
        begin_step=begin_step,
        end_step=end_step,
        frequency=frequency,
    )
    skip = _checks.check_layer_names(student, skip_layers, "skip_layers")
    return engine.prune(
        student,
        _make_schedule(engine, schedule, **schedule_args),
        m_by_n=(2, 4) if structure == "2:4" else None,
        skip_layers=skip,
    )


def pruning_callbacks(log_dir: str | None = None) -> list:
    """The callbacks for training a pruned model (required).

    `UpdatePruningStep` advances the pruning schedule with the optimizer's
    steps; `PruningSummaries` writes each layer's mask sparsity and threshold
    to TensorBoard. Both work with `Distiller.fit` and `model.fit`, on either
    engine (TF-MOT's own callbacks on tf_keras).

    Args:
        log_dir: str or path-like, a TensorBoard log directory for
            `PruningSummaries`; None leaves it out. Defaults to None.

    Returns:
        `[UpdatePruningStep()]`, plus `PruningSummaries(log_dir)` if `log_dir`.

    Raises:
        TypeError: `log_dir` is not a path.
        ImportError: `log_dir` is given but the `tensorboard` package, which
            writes the summaries, is not installed.

    Example:
    ```python
    distiller.fit(x, y, epochs=4, callbacks=pruning_callbacks("logs/prune"))
    ```
    """
    if log_dir is not None:
        try:
            log_dir = os.fspath(log_dir)
        except TypeError:
            raise TypeError(
                f"`log_dir` must be a directory path, got {type(log_dir).__name__}: "
                f"{log_dir!r}."
            ) from None
        # TensorFlow does not depend on TensorBoard; without it the summaries
        # fail at the first epoch, after training has started.
        if not _tensorboard_installed():
            raise ImportError(
                missing_message(
                    "tensorboard", "`log_dir` (PruningSummaries, TensorBoard summaries)"
                )
                + " Or pass log_dir=None."
            )
    return _engine.engine().pruning_callbacks(log_dir)


def strip_pruning(model):
    """Removes the pruning wrappers, keeping the pruned (sparse) weights.

    Call it after training and before export or quantization: the result has
    the original layer types and no masks, so `TFLiteConverter` and gzip see
    plain sparse kernels.

    Args:
        model: a Keras model, usually the output of `prune` after training
            (e.g. `distiller.student`).

    Returns:
        A new model without pruning wrappers or masks; a model without them
        comes back as an equivalent model.

    Raises:
        TypeError: `model` is not a model of the Keras in use, or (tf_keras) is
            subclassed.

    Example:
    ```python
    final = strip_pruning(distiller.student)
    ```
    """
    engine = _engine.engine()
    _checks.check_student(
        model,
        "model",
        "strip",
        allow=("PruneLowMagnitude", "pruning"),
        graph_only=not engine.PRUNES_SUBCLASSED,
    )
    return engine.strip_pruning(model)


def _tensorboard_installed() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


def _check_sparsity(name: str, value) -> float:
    return check_real(
        name,
        value,
        low=0.0,
        high=1.0,
        high_inclusive=False,
        hint="It is the fraction of weights set to zero: for 80 % pass 0.8.",
    )


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


def _check_schedule(
    *,
    schedule,
    target_sparsity,
    initial_sparsity,
    begin_step,
    end_step,
    frequency,
) -> dict:
    """The schedule's arguments, checked before anything is built."""
    check_int("begin_step", begin_step, 0)
    check_int("frequency", frequency, 1)
    args = {
        "target_sparsity": target_sparsity,
        "initial_sparsity": 0.0,
        "begin_step": int(begin_step),
        "end_step": end_step,
        "frequency": int(frequency),
    }
    if schedule == "constant":
        if end_step is not None:
            check_int("end_step", end_step, begin_step)
            args["end_step"] = int(end_step)
        return args
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
    return {**args, "initial_sparsity": initial_sparsity, "end_step": int(end_step)}


def _make_schedule(
    engine,
    kind: str,
    *,
    target_sparsity: float,
    initial_sparsity: float,
    begin_step: int,
    end_step: int | None,
    frequency: int,
):
    """The engine's `ConstantSparsity` or `PolynomialDecay` (arguments checked).

    Both engines' classes take TF-MOT's constructor arguments.
    """
    constant, polynomial = engine.schedule_classes()
    if kind == "constant":
        return constant(
            target_sparsity,
            begin_step=begin_step,
            end_step=-1 if end_step is None else end_step,
            frequency=frequency,
        )
    return polynomial(
        initial_sparsity=initial_sparsity,
        final_sparsity=target_sparsity,
        begin_step=begin_step,
        end_step=end_step,
        frequency=frequency,
    )

"""The demo's training stages: label-only baseline student and distilled student.

Every stage trains with Adam on a cosine-decaying learning rate, one progress bar
over its epochs, and the test split as validation data (so the plots show
validation accuracy per epoch).
"""

from keras_distill import _compat
from keras_distill._compat import keras
from keras_distill.demo import dataset
from keras_distill.demo import methods
from keras_distill.demo import presets
from keras_distill.demo.config import UsageError
from keras_distill.demo.model_files import load_model_file
from keras_distill.demo.progress import EpochProgress
from keras_distill.distiller import Distiller

# About how many times a stage evaluates the test split while it trains.
VALIDATIONS = 25


def student_loss():
    """The label loss of every stage: sparse cross-entropy on logits."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def make_student(data, student=None):
    """A fresh, untrained student for `data`.

    Args:
        data: the `DataBundle`.
        student: str, a preset name (`presets.STUDENT_PRESETS`) or the path of
            an untrained Functional or Sequential `.keras` file. Defaults to None
            (the data's default, `presets.default_student_preset`).

    Returns:
        An uncompiled Keras model that outputs logits.

    Raises:
        UsageError: neither a preset nor a `.keras` file; a file that does not
            load or fit the data; a subclassed model (TF-MOT cannot prune it).
    """
    if student is None:
        student = presets.default_student_preset(data)
    if student in presets.STUDENT_PRESETS:
        try:
            return presets.student_preset(student, data)
        except ValueError as err:
            raise UsageError(dataset.one_line(err)) from None
    if not str(student).endswith(".keras"):
        raise UsageError(
            f"student {student!r} is neither a preset "
            f"({', '.join(presets.STUDENT_PRESETS)}) nor a .keras file"
        )
    model = load_model_file(student, data, "student")
    if not _compat.is_graph_model(model):
        raise UsageError(
            f"student file {student!r} holds a subclassed model; pruning and "
            "quantization need a Functional or Sequential model"
        )
    return model


def fit(
    model,
    data,
    *,
    epochs: int,
    learning_rate: float,
    validate: bool = True,
    callbacks=None,
    augmentation=None,
) -> dict:
    """Compiles and trains `model` (a plain model or a Distiller) on `data`.

    Args:
        model: a Keras model or `Distiller`.
        data: the `DataBundle`.
        epochs: int, epochs over the training split.
        learning_rate: float, Adam's learning rate at the start of the cosine
            decay to 0.
        validate: bool, evaluate the test split during training (about
            `VALIDATIONS` times, for the training curves). Defaults to True.
        callbacks: list of extra Keras callbacks (e.g. TF-MOT's). Defaults to
            None.
        augmentation: list of Keras preprocessing layers applied, in training
            mode, to each training batch in the input pipeline (for a model
            trained on labels; a Distiller augments in its own step). Defaults
            to None.

    Returns:
        The Keras history dict (`history.history`).
    """
    steps = dataset.steps_per_epoch(data) * epochs
    model.compile(
        optimizer=keras.optimizers.Adam(
            keras.optimizers.schedules.CosineDecay(learning_rate, steps)
        ),
        loss=student_loss(),
        metrics=["sparse_categorical_accuracy"],
    )
    history = model.fit(
        augmented(data.train, augmentation),
        validation_data=data.test if validate else None,
        # Evaluating after each of hundreds of short epochs cost the demo half
        # its distillation time; the curves need a few dozen points.
        validation_freq=max(1, epochs // VALIDATIONS),
        epochs=epochs,
        shuffle=False,  # the tf.data pipeline shuffles (seeded) already
        verbose=0,
        callbacks=[*(callbacks or []), EpochProgress(epochs)],
    )
    return history.history


def augmented(batches, layers):
    """`batches` of `(x, y)` with `layers` applied to `x` in training mode."""
    if not layers:
        return batches
    import tensorflow as tf

    def augment(x, y):
        for layer in layers:
            x = layer(x, training=True)
        return x, y

    return batches.map(augment, num_parallel_calls=tf.data.AUTOTUNE)


def train_student(
    data,
    *,
    student=None,
    epochs: int = 100,
    learning_rate: float = 1e-3,
):
    """The label-only baseline: the student architecture trained without a teacher.

    Args:
        data: the `DataBundle`.
        student: see `make_student`. Defaults to None (the data's default).
        epochs: int. Defaults to 100.
        learning_rate: float. Defaults to 1e-3.

    Returns:
        `(student, history)`.
    """
    model = make_student(data, student)
    history = fit(model, data, epochs=epochs, learning_rate=learning_rate)
    return model, history


def make_distiller(
    student,
    teacher,
    method,
    *,
    temperature=None,
    alpha=None,
    modality="vector",
    signal=False,
):
    """A `Distiller` configured by a `DemoMethod` (and optional overrides).

    Args:
        student: the student model.
        teacher: the trained teacher.
        method: a `DemoMethod`.
        temperature: float, overrides the method's. Defaults to None.
        alpha: float, overrides the method's. Defaults to None.
        modality: str, the data's `DataBundle.modality` (the method's image or
            speech augmentation applies to images or audio). Defaults to
            "vector".
        signal: bool, the data's `DataBundle.signal` (the method's signal
            augmentation applies to 1-D signals). Defaults to False.

    Returns:
        The uncompiled `Distiller`.
    """
    options = {}
    augmentation = method.make_augmentation(modality, signal)
    if augmentation is not None:
        options["augmentation"] = augmentation
    return Distiller(
        student=student,
        teacher=teacher,
        temperature=method.temperature if temperature is None else temperature,
        alpha=method.alpha if alpha is None else alpha,
        distillation_losses=method.loss,
        **options,
    )


def distil(
    data,
    teacher,
    *,
    student=None,
    method=None,
    temperature: float | None = None,
    alpha: float | None = None,
    epochs: int | None = None,
    learning_rate: float | None = None,
    callbacks=None,
):
    """Distils a student from `teacher` with one of the demo's methods.

    Args:
        data: the `DataBundle`.
        teacher: the trained teacher (outputs logits).
        student: a preset name, a `.keras` path or a Keras model (e.g. a pruned
            or QAT copy of a distilled student). Defaults to None (the data's
            default preset).
        method: str or `DemoMethod`. Defaults to None (the best method).
        temperature: float, overrides the method's. Defaults to None.
        alpha: float, overrides the method's. Defaults to None.
        epochs: int, overrides the method's schedule. Defaults to None.
        learning_rate: float, overrides the method's. Defaults to None.
        callbacks: list of extra Keras callbacks (e.g. TF-MOT's pruning
            callbacks). Defaults to None.

    Returns:
        `(distiller, history)`; `distiller.student` is the trained student.

    Raises:
        UsageError: an unknown method or a bad student.

    Example:
    ```python
    distiller, history = distil(data, teacher, method="mixup-kd", epochs=50)
    accuracy = dataset.evaluate(distiller.student, data)
    ```
    """
    if not isinstance(method, methods.DemoMethod):
        try:
            method = methods.get_method(method, data.modality)
        except ValueError as err:
            raise UsageError(str(err)) from None
    if not isinstance(student, keras.Model):
        student = make_student(data, student)
    distiller = make_distiller(
        student,
        teacher,
        method,
        temperature=temperature,
        alpha=alpha,
        modality=data.modality,
        signal=data.signal,
    )
    history = fit(
        distiller,
        data,
        epochs=epochs or method.epochs,
        learning_rate=learning_rate or method.learning_rate,
        callbacks=callbacks,
    )
    return distiller, history

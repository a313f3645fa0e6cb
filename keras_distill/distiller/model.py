"""The Distiller: a Keras model that trains a student to imitate a frozen teacher.

Its pieces live beside it in `keras_distill/distiller/` (see `__init__.py`).
"""

import tensorflow as tf

from keras_distill import _compat
from keras_distill._compat import keras
from keras_distill._numbers import check_alpha
from keras_distill._numbers import check_temperature
from keras_distill.distiller import _loss_terms
from keras_distill.distiller._checks import check_logit_classes
from keras_distill.distiller._checks import check_loss_weights
from keras_distill.distiller._checks import check_models
from keras_distill.distiller._checks import normalized_teacher_weights
from keras_distill.distiller._checks import refuse_unlabelled_data
from keras_distill.distiller._checks import refuse_weights_with_cache
from keras_distill.distiller._checks import warn_if_softmax
from keras_distill.distiller._compile_arguments import keras_io_loss
from keras_distill.distiller._compile_arguments import resolve_student_loss
from keras_distill.distiller._config import compile_config
from keras_distill.distiller._config import constructor_arguments
from keras_distill.distiller._config import constructor_config
from keras_distill.distiller._inspect import check_augmentation
from keras_distill.distiller._loss_setup import set_up_losses
from keras_distill.distiller._reduction import scale_for_distribution
from keras_distill.teacher_cache import cached_batch


@keras.saving.register_keras_serializable(package="keras_distill")
class Distiller(keras.Model):
    """Trains a student model to match a frozen teacher (knowledge distillation).

    Each training step runs the teacher in inference mode (`training=False`, outside
    the gradient tape: no teacher gradients, no BatchNorm updates) and the student
    in training mode, and minimises

        loss = alpha * student_loss(y, s)
             + (1 - alpha) * sum_k w_k * distillation_loss_k(t, s)
             + sum(student.losses)        # the student's own regularization

    where `s`, `t` are student and teacher logits (or features, for feature losses)
    and the default distillation loss is Hinton et al.'s softened KL divergence
    scaled by T^2 (`keras_distill.losses.KLDivergence`). `sample_weight` and
    `class_weight` weight both terms per example. Gradients reach only the student
    (and the adapters a feature loss owns).

    Models must output logits. A model that ends in a softmax makes the softened
    distributions nearly uniform and the distillation term nearly useless: a
    warning says so at construction when the last layer is visibly a softmax.

    Use it like any Keras model: `compile`, `fit`, `evaluate`, `predict` (which
    returns the student's outputs); `distiller.student` is what you save, prune and
    export. The teacher is frozen (`teacher.trainable = False`). The whole
    Distiller saved with `distiller.save("d.keras")` loads with
    `keras.models.load_model` compiled as it was, optimizer state included.

    It trains under `tf.distribute` strategies (each replica's loss is weighted by
    its share of the global batch, so N devices match one), with mixed precision
    (the losses are computed in float32) and with `compile(jit_compile=...,
    steps_per_execution=...)`. Without augmentation, `cached_teacher=True` trains
    on teacher logits computed once by `keras_distill.cache_teacher_outputs`. See
    docs/speed.md.

    Args:
        student: `keras.Model`, the model to train. Functional or Sequential if you
            prune or quantize it later (TF-MOT needs that).
        teacher: `keras.Model` or list of models, the trained teacher(s). Several
            teachers are combined as the weighted mean of their softened
            distributions, or of their logits for losses that match logits
            (`LogitMSE`, `Hint`: see `DistillationLoss.combines`).
        temperature: float > 0, T in softmax(logits / T). Defaults to 3.0.
        alpha: float in [0, 1], weight of the student (label) loss; the
            distillation losses get 1 - alpha. Defaults to 0.1.
        distillation_losses: a `DistillationLoss`, a registered name (`"kl"`), or a
            list of them. With several, each is also logged as `<name>_loss`
            (`kl_loss`, `hint_loss`; repeated names are numbered, `kl_2`).
            Defaults to None (`KLDivergence()`).
        distillation_loss_weights: list of floats, one per distillation loss.
            Defaults to None (1.0 each).
        teacher_weights: list of floats >= 0, one per teacher, for several teachers.
            Defaults to None (equal weights).
        augmentation: applied to each training batch (never in `evaluate`) before
            both the teacher and the student see it, so they see the same
            augmented inputs ("consistent teaching", Beyer et al. 2022): a
            `keras_distill.augmentation.Mixup` (which also mixes the student
            loss over the partner labels), a Keras preprocessing layer (called
            with training=True), any callable `x -> x` that keeps the labels
            valid, or a list of these applied in order (at most one Mixup).
            Defaults to None.
        cached_teacher: bool, train on teacher logits computed ahead of time
            (offline distillation): `teacher` stays None and every batch is
            `(x, y, teacher_logits)`, as `keras_distill.cache_teacher_outputs`
            returns, for `fit` and `evaluate` alike. Only for inputs that are
            not augmented, and for losses on the logits. Defaults to False.
        teacher_input: None, or a callable that maps each batch of the
            student's inputs (after `augmentation`) to the teacher's inputs,
            for a teacher that reads other inputs than the student: another
            resolution (`keras.layers.Resizing(224, 224)`), a longer sequence,
            its own preprocessing. Checked against the teacher's input shape
            when the Distiller is built. Saved with the Distiller when Keras
            can serialize it (a Keras layer, or a function registered with
            `keras.saving.register_keras_serializable`). Defaults to None (the
            teacher reads the student's inputs, whose shapes must match).
        **kwargs: passed to `keras.Model` (`name`, ...).

    Raises:
        ValueError, TypeError: for a missing or non-model student or teacher, a
            model of the other Keras flavour, the same model as both, input or
            output shapes that differ, a temperature or alpha out of range,
            weights whose count does not match, a missing layer name, or
            `cached_teacher=True` with a teacher, augmentation or feature losses.

    Example:
    ```python
    distiller = keras_distill.Distiller(student=student, teacher=teacher,
                                        temperature=3.0, alpha=0.1)
    distiller.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["sparse_categorical_accuracy"],
    )
    distiller.fit(x_train, y_train, epochs=10, validation_data=(x_test, y_test))
    distiller.student.save("student.keras")
    ```
    """

    def __init__(
        self,
        student=None,
        teacher=None,
        temperature: float = 3.0,
        alpha: float = 0.1,
        distillation_losses=None,
        distillation_loss_weights=None,
        teacher_weights=None,
        augmentation=None,
        cached_teacher: bool = False,
        teacher_input=None,
        **kwargs,
    ):
        temperature = check_temperature(temperature)
        augmentation = check_augmentation(augmentation)
        alpha = check_alpha(alpha)
        teachers = check_models(
            student, teacher, cached_teacher, augmentation, teacher_input
        )
        warn_if_softmax(student, teachers, stacklevel=2)
        super().__init__(**kwargs)
        self.student = student
        self.teachers = teachers
        self.cached_teacher = bool(cached_teacher)
        for t in teachers:
            t.trainable = False
        self.teacher_weights = normalized_teacher_weights(
            teacher_weights, len(teachers)
        )
        self.augmentation = augmentation
        self.teacher_input = teacher_input
        # Plain tf.Variables, read inside the compiled step: callbacks and schedules
        # assign them without retracing, and they are not mixed into the weights.
        self._temperature = tf.Variable(
            temperature, trainable=False, name="temperature"
        )
        self._alpha = tf.Variable(alpha, trainable=False, name="alpha")
        self._alpha_ceiling = 0.0
        self.student_loss_fn = None
        self._compiled_student_loss = None
        # True once compile(distillation_loss_fn=...) set the losses, which a later
        # compile may then replace (a notebook cell run again, edited).
        self._loss_fn_from_compile = False
        self._loss_tracker = keras.metrics.Mean(name="loss")
        self._student_loss_tracker = keras.metrics.Mean(name="student_loss")
        self._distillation_loss_tracker = keras.metrics.Mean(name="distillation_loss")
        self._set_distillation_losses(distillation_losses, distillation_loss_weights)
        # The Distiller owns no Keras weights of its own: it is built once its
        # models are, which BackupAndRestore and weight loading rely on.
        self.built = bool(student.built and all(t.built for t in teachers))

    # ----------------------------------------------------------------- settings
    @property
    def teacher(self):
        """The teacher model (the first one when there are several), or None."""
        return self.teachers[0] if self.teachers else None

    @property
    def temperature(self) -> float:
        """The current temperature T; assign a float > 0 to change it."""
        return _read(self._temperature)

    @temperature.setter
    def temperature(self, value):
        self._temperature.assign(check_temperature(value))

    @property
    def alpha(self) -> float:
        """The current weight of the student loss; assign a float in [0, 1]."""
        return _read(self._alpha)

    @alpha.setter
    def alpha(self, value):
        self._alpha.assign(check_alpha(value))

    @property
    def alpha_ceiling(self) -> float:
        """The largest alpha the current `fit` will set; assign a float in [0, 1].

        The training step refuses unlabelled data when this or the current alpha
        is > 0: its check runs once, when the step is traced, so it must know an
        alpha a callback raises later. `DistillationScheduler` sets it to its
        schedule's largest alpha when training begins and back to 0.0 when it
        ends; a callback of your own that raises alpha should do the same.
        Defaults to 0.0.

        Raises:
            TypeError, ValueError: when assigned a value that is not in [0, 1].
        """
        return self._alpha_ceiling

    @alpha_ceiling.setter
    def alpha_ceiling(self, value):
        self._alpha_ceiling = check_alpha(value, "alpha_ceiling")

    @property
    def distillation_loss_weights(self) -> list:
        """The current weight of each distillation loss."""
        with tf.init_scope():
            return [float(w) for w in self._loss_weights.numpy()]

    @distillation_loss_weights.setter
    def distillation_loss_weights(self, values):
        self._loss_weights.assign(check_loss_weights(values, self.distillation_losses))

    def _set_distillation_losses(self, losses, weights):
        setup = set_up_losses(
            losses, weights, self.teachers, self.student, self.cached_teacher
        )
        self.distillation_losses = setup.losses
        self._loss_weights = tf.Variable(
            setup.weights, trainable=False, dtype=tf.float32
        )
        self._teacher_layers = setup.teacher_layers
        self._student_layers = setup.student_layers
        # Kept out of Keras' attribute tracking: the taps share the models' layers,
        # which the Distiller already tracks through `student` and `teachers`.
        self._taps = setup.taps
        self._per_loss_trackers = (
            [keras.metrics.Mean(name=f"{loss.name}_loss") for loss in setup.losses]
            if len(setup.losses) > 1
            else []
        )

    # ------------------------------------------------------------------ compile
    def compile(
        self,
        optimizer="rmsprop",
        loss=None,
        metrics=None,
        *,
        student_loss_fn=None,
        distillation_loss_fn=None,
        alpha=None,
        temperature=None,
        **kwargs,
    ):
        """Configures training; accepts Keras' and the keras.io example's arguments.

        Args:
            optimizer: optimizer or its name. Defaults to "rmsprop".
            loss: the student (label) loss, e.g.
                `keras.losses.SparseCategoricalCrossentropy(from_logits=True)`.
                Needed when alpha > 0. Defaults to None.
            metrics: metrics of the student's predictions. Defaults to None.
            student_loss_fn: the keras.io example's name for `loss`.
                Defaults to None.
            distillation_loss_fn: a loss on probabilities, e.g.
                `keras.losses.KLDivergence()`, applied to the softened teacher and
                student distributions and scaled by T^2 (keras.io semantics).
                It replaces the default loss (`KLDivergence()`) or the one an
                earlier compile set, keeping its weight; compiling again with an
                equal loss keeps the loss in place. Defaults to None.
            alpha: float in [0, 1]; overrides the constructor's. Defaults to None.
            temperature: float > 0; overrides the constructor's. Defaults to None.
            **kwargs: passed to `keras.Model.compile` (`jit_compile`,
                `steps_per_execution`, `run_eagerly`, ...).

        Raises:
            ValueError, TypeError: for bad alpha/temperature, both `loss` and
                `student_loss_fn`, a loss that is not callable, alpha > 0 without a
                student loss, a probability loss on a logits student, or a
                `distillation_loss_fn` that would replace other losses given to
                the constructor.
        """
        # Validate everything before changing anything: a refused compile leaves
        # the Distiller as it was.
        if loss is not None and student_loss_fn is not None:
            raise ValueError(
                "Pass the student loss once: as `loss` or as `student_loss_fn`."
            )
        new_alpha = self.alpha if alpha is None else check_alpha(alpha)
        if temperature is not None:
            temperature = check_temperature(temperature)
        student_loss = resolve_student_loss(
            loss, student_loss_fn, new_alpha, self.student
        )
        replacement = None
        if distillation_loss_fn is not None:
            replacement = keras_io_loss(
                distillation_loss_fn,
                self.distillation_losses,
                self._loss_fn_from_compile,
            )
        if replacement is not None:
            # One loss replaces one loss: it keeps that loss's weight.
            self._set_distillation_losses([replacement], self.distillation_loss_weights)
            self._loss_fn_from_compile = True
        if temperature is not None:
            self.temperature = temperature
        self.alpha = new_alpha
        self.student_loss_fn = student_loss
        # As given, for get_compile_config: a subclass may wrap student_loss_fn.
        self._compiled_student_loss = student_loss
        super().compile(optimizer=optimizer, metrics=metrics, **kwargs)

    @property
    def metrics(self):
        # Only ours and the compiled ones: Keras would otherwise add the metrics of
        # a compiled teacher or student.
        return self._loss_trackers() + _compat.compiled_metrics(self)

    # ------------------------------------------------------------------- steps
    def fit(self, *args, **kwargs):
        refuse_weights_with_cache(self.cached_teacher, kwargs)
        return super().fit(*args, **kwargs)

    def evaluate(self, *args, **kwargs):
        refuse_weights_with_cache(self.cached_teacher, kwargs)
        return super().evaluate(*args, **kwargs)

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    def _student_outputs(self, x, training):
        outputs = _loss_terms.as_list(self._taps.student(x, training=training))
        return dict(zip([*self._student_layers, None], outputs))

    def _compute_losses(self, y, teacher, student, sample_weight, mixing=None):
        """`(total, student_loss, distillation_loss, per-loss terms)` of a batch."""
        logits = student[None]
        batch = tf.shape(logits)[0]
        weights = _loss_terms.example_weights(sample_weight, batch, mixing)
        if y is None:
            refuse_unlabelled_data(self._alpha, max(self.alpha, self.alpha_ceiling))
            student_loss = tf.zeros((), tf.float32)
        else:
            student_loss = _loss_terms.student_loss_term(
                self.student_loss_fn, y, logits, weights, batch, mixing
            )
        labels = (
            y if mixing is None or y is None else _loss_terms.dominant_labels(y, mixing)
        )
        per_loss = _loss_terms.distillation_terms(
            self.distillation_losses,
            teacher,
            student,
            labels,
            self._temperature,
            weights,
            batch,
        )
        distill = tf.reduce_sum(tf.stack(per_loss) * self._loss_weights)
        alpha = tf.cast(self._alpha, tf.float32)
        total = alpha * student_loss + (1.0 - alpha) * distill
        regularization = self.student.losses
        if regularization:
            total += tf.add_n([tf.cast(r, tf.float32) for r in regularization])
        return total, student_loss, distill, per_loss

    def _loss_trackers(self):
        return [
            self._loss_tracker,
            self._student_loss_tracker,
            self._distillation_loss_tracker,
            *self._per_loss_trackers,
        ]

    def _update_trackers(self, x, y, logits, sample_weight, losses):
        total, student_loss, distill, per_loss = losses
        batch = tf.shape(logits)[0]
        values = [
            total,
            student_loss,
            distill,
            *per_loss[: len(self._per_loss_trackers)],
        ]
        for tracker, value in zip(self._loss_trackers(), values):
            tracker.update_state(value, sample_weight=batch)
        if y is None:
            return {m.name: m.result() for m in self._loss_trackers()}
        return self.compute_metrics(x, y, logits, sample_weight)

    def trainable_student_variables(self) -> list:
        """The variables a training step updates: the student's and the losses'."""
        variables = list(self.student.trainable_variables)
        for loss in self.distillation_losses:
            variables += list(loss.trainable_variables)
        return variables

    def _unpack(self, data, training):
        """`x, y, sample_weight`, the teacher's outputs and the Mixup of a batch.

        The teacher runs here, outside any gradient tape: no activations are kept
        for a backward pass it never has. With `cached_teacher` it does not run.
        """
        if self.cached_teacher:
            x, y, teacher = cached_batch(data)
            return x, y, None, teacher, None
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        mixing = None
        if training and self.augmentation is not None:
            x, mixing = _loss_terms.augment(self.augmentation, x)
        teacher = _loss_terms.teacher_outputs(
            self._taps.teachers,
            self._teacher_layers,
            self.teacher_weights,
            self._temperature,
            x if self.teacher_input is None else self.teacher_input(x),
        )
        return x, y, sample_weight, teacher, mixing

    def train_step(self, data):
        x, y, sample_weight, teacher, mixing = self._unpack(data, training=True)
        with tf.GradientTape() as tape:
            student = self._student_outputs(x, training=True)
            check_logit_classes(
                self.distillation_losses, teacher, student, self.cached_teacher
            )
            losses = self._compute_losses(y, teacher, student, sample_weight, mixing)
            scaled = scale_for_distribution(losses[0], tf.shape(student[None])[0])
            # Mixed float16: scaled up so small float16 gradients do not vanish.
            scaled = _compat.scale_loss(self.optimizer, scaled)
        variables = self.trainable_student_variables()
        gradients = _compat.unscale_gradients(
            self.optimizer, tape.gradient(scaled, variables)
        )
        self.optimizer.apply_gradients(zip(gradients, variables))
        if mixing is not None and y is not None:
            # Metrics of a mixed example count its dominant label.
            y = _loss_terms.dominant_labels(y, mixing)
        return self._update_trackers(x, y, student[None], sample_weight, losses)

    def test_step(self, data):
        x, y, sample_weight, teacher, _ = self._unpack(data, training=False)
        student = self._student_outputs(x, training=False)
        check_logit_classes(
            self.distillation_losses, teacher, student, self.cached_teacher
        )
        losses = self._compute_losses(y, teacher, student, sample_weight)
        return self._update_trackers(x, y, student[None], sample_weight, losses)

    # ----------------------------------------------------------- serialization
    def get_config(self):
        config = super().get_config()
        config.update(constructor_config(self))
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**constructor_arguments(config))

    def get_compile_config(self):
        """The arguments of the last `compile`, serialized, for saving the model.

        Keras' own (optimizer, metrics, `jit_compile`, ...) plus the student loss
        and the keras.io `distillation_loss_fn`. Temperature, alpha and the loss
        weights are not repeated: `get_config` holds their current values.

        Returns:
            A dict, or what Keras returns for a model never compiled (None in
            tf_keras, {} in Keras 3).
        """
        fn = self.distillation_losses[0].fn if self._loss_fn_from_compile else None
        return compile_config(
            super().get_compile_config(), self._compiled_student_loss, fn
        )

    def compile_from_config(self, config):
        """Compiles the model as `get_compile_config` recorded; used on loading.

        Also builds the optimizer's variables, so that a loaded model gets the
        saved optimizer state and resumes training where the saved one was.

        Args:
            config: dict, as `get_compile_config` returns.
        """
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        # The keras.io loss came from a compile, also in the loaded model.
        self._loss_fn_from_compile = config.get("distillation_loss_fn") is not None
        if self.built and isinstance(self.optimizer, keras.optimizers.Optimizer):
            self.optimizer.build(self.trainable_student_variables())


def _read(variable) -> float:
    """A scalar variable's value, also while a tf.function is being traced."""
    with tf.init_scope():
        return float(variable.numpy())

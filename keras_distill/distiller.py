"""The Distiller: a Keras model that trains a student to imitate a frozen teacher."""

import math
import numbers
import warnings

import tensorflow as tf

from keras_distill import _compat
from keras_distill._checks import check_alpha
from keras_distill._checks import check_augmentation
from keras_distill._checks import check_temperature
from keras_distill._checks import ends_in_softmax
from keras_distill._checks import expects_probabilities
from keras_distill._checks import io_shapes
from keras_distill._compat import keras
from keras_distill._reduction import per_example_loss
from keras_distill._reduction import per_example_weights
from keras_distill._reduction import scale_for_distribution
from keras_distill._reduction import weighted_mean
from keras_distill._taps import Taps
from keras_distill._taps import tap
from keras_distill.losses.response import KLDivergence
from keras_distill.losses.response import ProbabilityLoss
from keras_distill.teacher_cache import cached_batch
from keras_distill.teacher_cache import check_cached_teacher


def _as_teacher_list(teacher):
    if isinstance(teacher, (list, tuple)):
        if not teacher:
            raise ValueError("`teacher` is an empty list: pass at least one model.")
        return list(teacher)
    return [teacher]


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
    distiller.student.save("saved_models/student.keras")
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
        **kwargs,
    ):
        temperature = check_temperature(temperature)
        augmentation = check_augmentation(augmentation)
        alpha = check_alpha(alpha)
        _compat.check_model(student, "student")
        if cached_teacher:
            check_cached_teacher(teacher, augmentation)
            teachers = []
        else:
            teachers = [
                _compat.check_model(t, "teacher") for t in _as_teacher_list(teacher)
            ]
        if any(t is student for t in teachers):
            raise ValueError(
                "`teacher` and `student` are the same model object. Distil into a "
                "separate, usually smaller, student model."
            )
        self._check_shapes(student, teachers)
        for argname, model in [("teacher", t) for t in teachers] + [
            ("student", student)
        ]:
            if ends_in_softmax(model):
                warnings.warn(
                    f"The {argname} {model.name!r} ends in a softmax. keras_distill "
                    "expects logits: softening probabilities by a temperature makes "
                    "them nearly uniform and the distillation loss nearly useless. "
                    "Build the model without the final softmax (and use losses "
                    "with from_logits=True).",
                    UserWarning,
                    stacklevel=2,
                )
        super().__init__(**kwargs)
        self.student = student
        self.teachers = teachers
        self.cached_teacher = bool(cached_teacher)
        for t in teachers:
            t.trainable = False
        self.teacher_weights = (
            self._check_teacher_weights(teacher_weights) if teachers else []
        )
        self.augmentation = augmentation
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
        self._loss_weights.assign(self._check_loss_weights(values))

    def _check_shapes(self, student, teachers):
        student_in = io_shapes(student, "inputs")
        student_out = io_shapes(student, "outputs")
        for teacher in teachers:
            teacher_in = io_shapes(teacher, "inputs")
            if (
                student_in
                and teacher_in
                and [s[1:] for s in student_in] != [s[1:] for s in teacher_in]
            ):
                raise ValueError(
                    "Teacher and student input shapes differ. Teacher: "
                    f"{teacher_in}, Student: {student_in}. Both must read the same "
                    "inputs; put any resizing inside the models."
                )
            teacher_out = io_shapes(teacher, "outputs")
            if len(teachers) > 1 and teacher_out != io_shapes(teachers[0], "outputs"):
                raise ValueError(
                    "The teachers' output shapes differ: "
                    f"{[io_shapes(t, 'outputs') for t in teachers]}. Several "
                    "teachers must predict the same classes."
                )
            if (
                student_out
                and teacher_out
                and (len(student_out) != 1 or len(teacher_out) != 1)
            ):
                raise ValueError(
                    "The Distiller needs models with one output (the logits). "
                    f"Teacher outputs: {teacher_out}, Student outputs: {student_out}."
                )

    def _check_teacher_weights(self, weights):
        if weights is None:
            return [1.0 / len(self.teachers)] * len(self.teachers)
        weights = [float(w) for w in weights]
        if len(weights) != len(self.teachers) or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(
                f"`teacher_weights` must hold one number >= 0 per teacher "
                f"({len(self.teachers)}), not all zero; got {weights}."
            )
        total = sum(weights)
        return [w / total for w in weights]

    def _check_loss_weights(self, weights):
        n = len(self.distillation_losses)
        if weights is None:
            return [1.0] * n
        if isinstance(weights, numbers.Real):
            weights = [weights]
        weights = [float(w) for w in weights]
        if len(weights) != n or not all(math.isfinite(w) and w >= 0 for w in weights):
            raise ValueError(
                f"`distillation_loss_weights` must hold one finite number >= 0 per "
                f"distillation loss ({n}: "
                f"{[loss.name for loss in self.distillation_losses]}); got {weights}."
            )
        return weights

    def _set_distillation_losses(self, losses, weights):
        from keras_distill.losses import registry

        if losses is None:
            losses = [KLDivergence()]
        elif not isinstance(losses, (list, tuple)):
            losses = [losses]
        losses = [registry.get(loss) for loss in losses]
        if not losses:
            raise ValueError(
                "`distillation_losses` is empty: pass at least one loss, or use "
                "alpha=1 to train on labels only."
            )
        _make_names_unique(losses)
        self.distillation_losses = losses
        weights = self._check_loss_weights(weights)
        self._loss_weights = tf.Variable(weights, trainable=False, dtype=tf.float32)
        teacher_layers = [ls.teacher_layer for ls in losses if ls.teacher_layer]
        student_layers = [ls.student_layer for ls in losses if ls.student_layer]
        if teacher_layers and self.cached_teacher:
            raise ValueError(
                "cached_teacher=True stores only the teacher's logits, but the "
                f"distillation losses read the teacher layers {teacher_layers}. Use "
                "losses on the logits (e.g. 'kl'), or a live teacher for feature "
                "losses."
            )
        if teacher_layers and len(self.teachers) > 1:
            raise ValueError(
                "Feature losses read intermediate teacher layers, which is defined "
                "for one teacher; got "
                f"{len(self.teachers)} teachers. Use one teacher for feature losses."
            )
        self._teacher_layers = list(dict.fromkeys(teacher_layers))
        self._student_layers = list(dict.fromkeys(student_layers))
        # Kept out of Keras' attribute tracking: the taps share the models' layers,
        # which the Distiller already tracks through `student` and `teachers`.
        self._taps = Taps(
            teachers=[tap(t, self._teacher_layers, "teacher") for t in self.teachers],
            student=tap(self.student, self._student_layers, "student"),
        )
        student_shapes = self._feature_shapes(self._taps.student, self._student_layers)
        # Cached logits have the student's shape: the step checks that they do.
        teacher_shapes = (
            self._feature_shapes(self._taps.teachers[0], self._teacher_layers)
            if self._taps.teachers
            else {None: student_shapes.get(None)}
        )
        for loss in losses:
            t_shape = teacher_shapes.get(loss.teacher_layer)
            s_shape = student_shapes.get(loss.student_layer)
            if t_shape is not None and s_shape is not None:
                loss.setup(t_shape, s_shape)
        self._per_loss_trackers = (
            [keras.metrics.Mean(name=f"{loss.name}_loss") for loss in losses]
            if len(losses) > 1
            else []
        )

    @staticmethod
    def _feature_shapes(model, layer_names):
        shapes = io_shapes(model, "outputs")
        if shapes is None:
            return {}
        return dict(zip([*layer_names, None], shapes))

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
        if loss is not None and student_loss_fn is not None:
            raise ValueError(
                "Pass the student loss once: as `loss` or as `student_loss_fn`."
            )
        student_loss = loss if loss is not None else student_loss_fn
        # Validate everything before changing anything: a refused compile leaves
        # the Distiller as it was.
        new_alpha = self.alpha if alpha is None else check_alpha(alpha)
        if temperature is not None:
            temperature = check_temperature(temperature)
        if isinstance(student_loss, (str, dict)):
            student_loss = keras.losses.get(student_loss)
        if student_loss is not None and not callable(student_loss):
            raise TypeError(
                "The student loss must be a Keras loss or a callable "
                f"loss(y_true, y_pred); got {type(student_loss).__name__}."
            )
        if student_loss is None and new_alpha > 0:
            raise ValueError(
                f"alpha={new_alpha} weights a student loss, but none was given. Pass "
                "loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True) "
                "(or another loss on the student's logits), or set alpha=0 to "
                "distil from the teacher alone."
            )
        if (
            student_loss is not None
            and not ends_in_softmax(self.student)
            and expects_probabilities(student_loss)
        ):
            raise ValueError(
                "The student outputs logits, but the student loss expects "
                "probabilities (from_logits=False). Use for example "
                "keras.losses.SparseCategoricalCrossentropy(from_logits=True)."
            )
        replacement = None
        if distillation_loss_fn is not None:
            replacement = self._keras_io_loss(distillation_loss_fn)
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

    def get_compile_config(self):
        """The arguments of the last `compile`, serialized, for saving the model.

        Keras' own (optimizer, metrics, `jit_compile`, ...) plus the student loss
        and the keras.io `distillation_loss_fn`. Temperature, alpha and the loss
        weights are not repeated: `get_config` holds their current values.

        Returns:
            A dict, or what Keras returns for a model never compiled (None in
            tf_keras, {} in Keras 3).
        """
        config = super().get_compile_config()
        if not config:
            return config
        serialize = keras.saving.serialize_keras_object
        fn = self.distillation_losses[0].fn if self._loss_fn_from_compile else None
        return {
            **config,
            "loss": serialize(self._compiled_student_loss),
            "distillation_loss_fn": None if fn is None else serialize(fn),
        }

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

    def _keras_io_loss(self, fn):
        """The loss that `compile(distillation_loss_fn=fn)` puts in place, or None.

        None when the Distiller already has that loss (a compile run again); the
        new loss when it replaces the default KL or a loss an earlier compile set.
        Losses chosen in the constructor are refused: they would be dropped.
        """
        new = ProbabilityLoss(fn)
        current = self.distillation_losses
        if len(current) == 1 and _same_loss(current[0], new):
            return None
        if self._loss_fn_from_compile or (
            len(current) == 1 and _same_loss(current[0], KLDivergence())
        ):
            return new
        raise ValueError(
            "`distillation_loss_fn` would replace the distillation losses given "
            f"to the Distiller ({', '.join(type(ls).__name__ for ls in current)}). "
            "Pass the losses in one place: `Distiller(distillation_losses=[...])`, "
            "or `distillation_loss_fn` with the default losses."
        )

    @property
    def metrics(self):
        # Only ours and the compiled ones: Keras would otherwise add the metrics of
        # a compiled teacher or student.
        return self._loss_trackers() + _compat.compiled_metrics(self)

    # ------------------------------------------------------------------- steps
    def fit(self, *args, **kwargs):
        self._refuse_weights_with_cache(kwargs)
        return super().fit(*args, **kwargs)

    def evaluate(self, *args, **kwargs):
        self._refuse_weights_with_cache(kwargs)
        return super().evaluate(*args, **kwargs)

    def _refuse_weights_with_cache(self, kwargs):
        # Keras would append the weights to the (x, y, teacher_logits) batches,
        # or mistake the logits for sample weights: refuse before it does.
        if not self.cached_teacher:
            return
        given = [
            k for k in ("sample_weight", "class_weight") if kwargs.get(k) is not None
        ]
        if given:
            raise ValueError(
                f"A Distiller with cached_teacher=True does not take {given[0]}: "
                "its batches are (x, y, teacher_logits). Weight the examples by "
                "repeating or subsampling them before cache_teacher_outputs, or "
                "distil from the live teacher (cached_teacher=False)."
            )

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    def _teacher_outputs(self, x):
        """Teacher features by layer name, and the (combined) logits under None.

        With several teachers, None holds logits whose softened distribution is
        the teachers' weighted mean, and `_MEAN_LOGITS` their weighted mean logits
        (for losses with `combines == "logits"`).
        """
        outputs = [_as_list(tap(x, training=False)) for tap in self._taps.teachers]
        features = dict(zip([*self._teacher_layers, None], outputs[0]))
        if len(outputs) > 1:
            logits = [out[-1] for out in outputs]
            features[None] = self._combine_teachers(logits)
            features[_MEAN_LOGITS] = tf.add_n(
                [
                    w * tf.cast(t, tf.float32)
                    for t, w in zip(logits, self.teacher_weights)
                    if w > 0
                ]
            )
        return {k: tf.stop_gradient(v) for k, v in features.items()}

    def _combine_teachers(self, logits):
        """Logits whose softened distribution is the teachers' weighted mean.

        T * log(sum_i w_i softmax(t_i / T)), so softmax(result / T) is exactly the
        weighted mean of the teachers' softened distributions.
        """
        temperature = tf.cast(self._temperature, tf.float32)
        log_probs = tf.stack(
            [
                tf.nn.log_softmax(tf.cast(t, tf.float32) / temperature) + math.log(w)
                for t, w in zip(logits, self.teacher_weights)
                if w > 0
            ]
        )
        return temperature * tf.reduce_logsumexp(log_probs, axis=0)

    def _student_outputs(self, x, training):
        outputs = _as_list(self._taps.student(x, training=training))
        return dict(zip([*self._student_layers, None], outputs))

    def _compute_losses(self, y, teacher, student, sample_weight, mixing=None):
        logits = student[None]
        batch = tf.shape(logits)[0]
        weights = per_example_weights(sample_weight, batch)
        if mixing is not None and weights is not None:
            # A mixed example is lam parts itself and 1 - lam parts its partner,
            # so it carries that blend of their sample/class weights.
            partner, lam = mixing
            weights = lam * weights + (1.0 - lam) * tf.gather(weights, partner)
        alpha = tf.cast(self._alpha, tf.float32)
        if y is None:
            largest = max(self.alpha, self.alpha_ceiling)
            if largest > 0:
                raise ValueError(
                    f"The data has no labels but alpha={largest} (the current or "
                    "a scheduled value) weights the student loss. Set alpha=0 to "
                    "distil on unlabelled data."
                )
            # alpha may rise later without a retrace (assigned by hand): refuse
            # that step too rather than train with a student loss of 0.
            tf.debugging.assert_equal(
                self._alpha,
                0.0,
                message="The data has no labels but alpha > 0 weights the "
                "student loss. Set alpha=0 to distil on unlabelled data.",
            )
            student_loss = tf.zeros((), tf.float32)
        elif self.student_loss_fn is None:
            student_loss = tf.zeros((), tf.float32)
        elif mixing is not None:
            partner, lam = mixing
            own = per_example_loss(self.student_loss_fn, y, logits, batch)
            other = per_example_loss(
                self.student_loss_fn, tf.gather(y, partner), logits, batch
            )
            student_loss = weighted_mean(
                lam * own + (1.0 - lam) * other, weights, batch
            )
        else:
            student_loss = weighted_mean(
                per_example_loss(self.student_loss_fn, y, logits, batch),
                weights,
                batch,
            )
        labels = y
        if mixing is not None and y is not None:
            labels = _dominant_labels(y, mixing)
        per_loss = []
        for loss in self.distillation_losses:
            extra = {"labels": labels} if loss.uses_labels else {}
            values = loss(
                _teacher_input(loss, teacher),
                student[loss.student_layer],
                temperature=self._temperature,
                **extra,
            )
            per_loss.append(weighted_mean(values, weights, batch))
        distill = tf.reduce_sum(tf.stack(per_loss) * self._loss_weights)
        total = alpha * student_loss + (1.0 - alpha) * distill
        regularization = self.student.losses
        if regularization:
            total += tf.add_n([tf.cast(r, tf.float32) for r in regularization])
        return total, student_loss, distill, per_loss

    def _augment(self, x):
        """The augmented batch and, for Mixup, its `(partner, lam)`."""
        from keras_distill.augmentation import Mixup

        mixing = None
        for augmentation in _as_list(self.augmentation):
            if isinstance(augmentation, Mixup):
                x, partner, lam = augmentation.mix(x)
                mixing = (partner, lam)
            elif isinstance(augmentation, keras.layers.Layer):
                x = augmentation(x, training=True)
            else:
                x = augmentation(x)
        return x, mixing

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
            x, mixing = self._augment(x)
        return x, y, sample_weight, self._teacher_outputs(x), mixing

    def _check_logit_classes(self, teacher, student):
        """Refuses, while the first step is traced, logits of different widths.

        Models without an `Input` have no shapes at construction; this is where
        their class counts are first known, before any weight changes.
        """
        reads_both_logits = any(
            loss.teacher_layer is None and loss.student_layer is None
            for loss in self.distillation_losses
        )
        if not reads_both_logits:  # e.g. LwF: the teacher meets the old head only
            return
        cached, own = teacher[None].shape[-1], student[None].shape[-1]
        if cached is not None and own is not None and cached != own:
            source = (
                "The cached teacher logits have"
                if self.cached_teacher
                else "The teacher outputs"
            )
            raise ValueError(
                f"{source} {cached} classes but the student outputs {own}: both "
                "must predict the same classes."
            )

    def train_step(self, data):
        x, y, sample_weight, teacher, mixing = self._unpack(data, training=True)
        with tf.GradientTape() as tape:
            student = self._student_outputs(x, training=True)
            self._check_logit_classes(teacher, student)
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
            y = _dominant_labels(y, mixing)
        return self._update_trackers(x, y, student[None], sample_weight, losses)

    def test_step(self, data):
        x, y, sample_weight, teacher, _ = self._unpack(data, training=False)
        student = self._student_outputs(x, training=False)
        self._check_logit_classes(teacher, student)
        losses = self._compute_losses(y, teacher, student, sample_weight)
        return self._update_trackers(x, y, student[None], sample_weight, losses)

    # ----------------------------------------------------------- serialization
    def get_config(self):
        serialize = keras.saving.serialize_keras_object
        teachers = [serialize(t) for t in self.teachers]
        config = super().get_config()
        config.update(
            {
                "student": serialize(self.student),
                "teacher": teachers[0] if len(teachers) == 1 else teachers or None,
                "temperature": self.temperature,
                "alpha": self.alpha,
                "distillation_losses": [
                    serialize(ls) for ls in self.distillation_losses
                ],
                "distillation_loss_weights": self.distillation_loss_weights,
                "teacher_weights": self.teacher_weights,
                "cached_teacher": self.cached_teacher,
                "augmentation": None
                if self.augmentation is None
                else serialize(self.augmentation),
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        deserialize = keras.saving.deserialize_keras_object
        config["student"] = deserialize(config["student"])
        teacher = config.get("teacher")
        if isinstance(teacher, list):
            config["teacher"] = [deserialize(t) for t in teacher]
        elif teacher is not None:
            config["teacher"] = deserialize(teacher)
        config["distillation_losses"] = [
            deserialize(ls) for ls in config["distillation_losses"]
        ]
        if config.get("augmentation") is not None:
            config["augmentation"] = deserialize(config["augmentation"])
        return cls(**config)


# Key of the teachers' weighted mean logits in the teacher outputs (several
# teachers only); an object, so that no layer name can collide with it.
_MEAN_LOGITS = object()


def _teacher_input(loss, teacher):
    """The teacher output `loss` reads, combined over teachers as it declares."""
    if loss.teacher_layer is None and loss.combines == "logits":
        return teacher.get(_MEAN_LOGITS, teacher[None])
    return teacher[loss.teacher_layer]


def _dominant_labels(y, mixing):
    """Each mixed example's dominant label: its own for lam >= 0.5, else its
    partner's."""
    partner, lam = mixing
    return tf.where(
        tf.reshape(lam >= 0.5, [-1] + [1] * (len(y.shape) - 1)),
        y,
        tf.gather(y, partner),
    )


def _make_names_unique(losses):
    """Renames repeated loss names in place: "kl", "kl" -> "kl", "kl_2".

    The names key the per-loss logs (`kl_loss`) and the DistillationScheduler's
    dict of weights, so they must be unique within a Distiller.
    """
    seen = set()
    for loss in losses:
        name, count = loss.name, 1
        while name in seen:
            count += 1
            name = f"{loss.name}_{count}"
        if name != loss.name:
            _compat.rename_layer(loss, name)
        seen.add(name)


def _same_loss(a, b) -> bool:
    """Whether two distillation losses compute the same thing (names aside)."""
    if type(a) is not type(b):
        return False
    configs = [dict(loss.get_config()) for loss in (a, b)]
    for config in configs:
        config.pop("name", None)
    return configs[0] == configs[1]


def _read(variable) -> float:
    """A scalar variable's value, also while a tf.function is being traced."""
    with tf.init_scope():
        return float(variable.numpy())


def _as_list(outputs):
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]

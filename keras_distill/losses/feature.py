"""Feature-based distillation: losses on intermediate layers (hints, attention)."""

import tensorflow as tf

from keras_distill._compat import keras
from keras_distill._numbers import check_real
from keras_distill.losses.base import DistillationLoss
from keras_distill.losses.registry import register

_ADAPTERS = ("auto", "always", "none")


def _spatial(shape):
    return tuple(shape[1:-1])


def _resize(features, size):
    """Bilinear resize of (batch, L, C) or (batch, H, W, C) to spatial `size`."""
    if len(size) == 1:
        resized = tf.image.resize(features[:, :, tf.newaxis, :], (size[0], 1))
        return resized[:, :, 0, :]
    return tf.image.resize(features, size)


def _check_rank(loss, teacher_shape, student_shape, ranks):
    teacher_shape, student_shape = tuple(teacher_shape), tuple(student_shape)
    if len(teacher_shape) != len(student_shape) or len(teacher_shape) not in ranks:
        raise ValueError(
            f"{type(loss).__name__} cannot align the teacher feature "
            f"{loss.teacher_layer!r} of shape {teacher_shape} with the student "
            f"feature {loss.student_layer!r} of shape {student_shape}: it needs two "
            f"features of the same rank, one of {sorted(ranks)} (batch included: "
            "vectors (batch, C), sequences (batch, L, C), images (batch, H, W, C)). "
            "Pick layers of the same kind, or Flatten one side."
        )
    if any(d is None for d in teacher_shape[1:] + student_shape[1:]):
        raise ValueError(
            f"{type(loss).__name__} needs static feature shapes, got "
            f"{teacher_shape} (teacher {loss.teacher_layer!r}) and {student_shape} "
            f"(student {loss.student_layer!r}). Give the models fixed input shapes."
        )
    return teacher_shape, student_shape


@register("hint")
@keras.saving.register_keras_serializable(package="keras_distill")
class Hint(DistillationLoss):
    """FitNets hint: the student's feature, adapted, regresses the teacher's.

    Romero et al., "FitNets: Hints for Thin Deep Nets", ICLR 2015:

        loss_i = mean_j (r(s_i)_j - t_i_j)^2

    where t_i and s_i are the outputs of `teacher_layer` and `student_layer` for
    example i, and r is a learned adapter (the paper's regressor) when the widths
    differ: a Dense layer for vectors `(batch, C)`, a 1x1 convolution for sequences
    `(batch, L, C)` and images `(batch, H, W, C)`. When spatial sizes differ, r's
    output is resized bilinearly to the teacher's. The adapter belongs to this loss,
    which the `Distiller` owns: it trains with the student and is never part of
    `distiller.student`, so it never ships in the exported student.

    Use it to pass on intermediate representations, typically together with a
    logit loss: `distillation_losses=["kl", Hint("t_block2", "s_block2")]`.
    Both models must be Functional or Sequential (the layers are read by name).

    Args:
        teacher_layer: str, name of the teacher layer to imitate. Defaults to None
            (the teacher's logits).
        student_layer: str, name of the student layer that imitates it.
            Defaults to None (the student's logits).
        adapter: "auto" (an adapter only when the channel counts differ),
            "always", or "none" (refuse different widths). Defaults to "auto".
        **kwargs: passed to `DistillationLoss`.

    Raises:
        ValueError: for an unknown `adapter`, and (from the `Distiller`) for
            features whose rank differs or whose widths differ with
            `adapter="none"`.

    Example:
    ```python
    hint = keras_distill.losses.Hint(teacher_layer="block2", student_layer="block1")
    distiller = keras_distill.Distiller(
        student=student, teacher=teacher, distillation_losses=["kl", hint],
        distillation_loss_weights=[1.0, 0.5])
    ```
    """

    # On the logits of several teachers, regress their weighted mean logits.
    combines = "logits"

    def __init__(self, teacher_layer=None, student_layer=None, adapter="auto", **kw):
        if adapter not in _ADAPTERS:
            raise ValueError(f"`adapter` must be one of {_ADAPTERS}, got {adapter!r}.")
        super().__init__(teacher_layer=teacher_layer, student_layer=student_layer, **kw)
        self.adapter = adapter
        self._target_size = None

    def setup(self, teacher_shape, student_shape):
        teacher_shape, student_shape = _check_rank(
            self, teacher_shape, student_shape, ranks=(2, 3, 4)
        )
        if self.built:
            if self._shapes != (teacher_shape[1:], student_shape[1:]):
                raise ValueError(
                    f"This Hint loss was already set up for features "
                    f"{self._shapes}; create a new Hint for other layers."
                )
            return
        self._shapes = (teacher_shape[1:], student_shape[1:])
        channels = teacher_shape[-1]
        if self.adapter == "none" and channels != student_shape[-1]:
            raise ValueError(
                f"The teacher feature {self.teacher_layer!r} has {channels} "
                f"channels and the student feature {self.student_layer!r} has "
                f"{student_shape[-1]}, and adapter='none'. Use adapter='auto' to "
                "learn a projection."
            )
        if self.adapter == "always" or channels != student_shape[-1]:
            rank = len(student_shape)
            if rank == 2:
                layer = keras.layers.Dense(channels, name="hint_adapter")
            elif rank == 3:
                layer = keras.layers.Conv1D(channels, 1, name="hint_adapter")
            else:
                layer = keras.layers.Conv2D(channels, 1, name="hint_adapter")
            layer.build(student_shape)
            self.projection = layer
        else:
            self.projection = None
        if _spatial(teacher_shape) != _spatial(student_shape):
            self._target_size = _spatial(teacher_shape)
        self.built = True

    def call(self, teacher_output, student_output, temperature=None):
        student = tf.cast(student_output, tf.float32)
        if getattr(self, "projection", None) is not None:
            student = tf.cast(self.projection(student), tf.float32)
        if self._target_size is not None:
            student = _resize(student, self._target_size)
        diff = student - tf.cast(teacher_output, tf.float32)
        batch = tf.shape(diff)[0]
        return tf.reduce_mean(tf.reshape(tf.square(diff), [batch, -1]), axis=-1)

    def get_config(self):
        config = super().get_config()
        config["adapter"] = self.adapter
        return config


def attention_map(features, p=2.0, size=None):
    """Zagoruyko & Komodakis' spatial attention: mean_c |f|^p, L2-normalised.

    Args:
        features: tensor `(batch, L, C)` or `(batch, H, W, C)`.
        p: float, the exponent. Defaults to 2.0.
        size: tuple or None, spatial size to resize the map to (bilinearly)
            before normalising. Defaults to None (keep the size).

    Returns:
        Float32 tensor `(batch, positions)`, each row of unit L2 norm.
    """
    features = tf.cast(features, tf.float32)
    maps = tf.reduce_mean(tf.pow(tf.abs(features), p), axis=-1, keepdims=True)
    if size is not None:
        maps = _resize(maps, size)
    flat = tf.reshape(maps, [tf.shape(maps)[0], -1])
    return tf.math.l2_normalize(flat, axis=-1, epsilon=1e-24)


@register("attention")
@keras.saving.register_keras_serializable(package="keras_distill")
class AttentionTransfer(DistillationLoss):
    """Attention transfer: match where convolutional features are active.

    Zagoruyko & Komodakis, "Paying More Attention to Attention", ICLR 2017. With
    the attention map a(f) = vec(mean_c |f_c|^p) / ||vec(mean_c |f_c|^p)||_2 of a
    feature map f (channels averaged, spatial positions kept):

        loss_i = mean_j (a(s_i)_j - a(t_i)_j)^2

    Channel counts may differ (they are averaged away), so no adapter is needed;
    when spatial sizes differ the student's map is resized bilinearly to the
    teacher's before normalising. Use it for convolutional teacher and student
    (1D or 2D feature maps). The values are small (maps have unit norm): the paper
    weights the sum over layer pairs by beta/2 = 500, so pass a weight of several
    hundred in `distillation_loss_weights`.

    Args:
        teacher_layer: str, name of a convolutional teacher layer. Defaults to
            None (the teacher's output).
        student_layer: str, name of a convolutional student layer. Defaults to
            None (the student's output).
        p: float > 0, the exponent of the attention map. Defaults to 2.0.
        **kwargs: passed to `DistillationLoss`.

    Raises:
        TypeError: for a p that is not a number.
        ValueError: for p <= 0, and (from the `Distiller`) for features that are
            not both sequences `(batch, L, C)` or both images `(batch, H, W, C)`.

    Example:
    ```python
    at = keras_distill.losses.AttentionTransfer("block2", "block1")
    distiller = keras_distill.Distiller(
        student=student, teacher=teacher, distillation_losses=["kl", at],
        distillation_loss_weights=[1.0, 500.0])
    ```
    """

    def __init__(self, teacher_layer=None, student_layer=None, p=2.0, **kwargs):
        p = check_real("p", p, low=0, low_inclusive=False, hint="Usually 2.")
        super().__init__(
            teacher_layer=teacher_layer, student_layer=student_layer, **kwargs
        )
        self.p = p
        self._target_size = None

    def setup(self, teacher_shape, student_shape):
        teacher_shape, student_shape = _check_rank(
            self, teacher_shape, student_shape, ranks=(3, 4)
        )
        if _spatial(teacher_shape) != _spatial(student_shape):
            self._target_size = _spatial(teacher_shape)
        self.built = True

    def call(self, teacher_output, student_output, temperature=None):
        a_s = attention_map(student_output, self.p, self._target_size)
        a_t = attention_map(teacher_output, self.p)
        return tf.reduce_mean(tf.square(a_s - a_t), axis=-1)

    def get_config(self):
        config = super().get_config()
        config["p"] = self.p
        return config

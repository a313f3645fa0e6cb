"""The demo's compression stage: prune, then train quantization-aware, while distilling.

Thin over `keras_distill.compress`, on whichever engine the Keras in use has
(our own on Keras 3, TF-MOT on tf_keras): `prune` + `pruning_callbacks` +
`strip_pruning`, then `quantize`, each followed by distillation from the same
teacher with the run's method, so the student recovers what compression cost.
Image students keep their first and last layers dense, the Transformer student
its patch embedding (`layers_kept_dense`).

When the engine cannot train a student quantization-aware (TF-MOT on tf_keras
has no 8-bit scheme for GRU, LSTM, MultiHeadAttention or LayerNormalization),
the stage does not fail: it records why (`CompressResult.qat_error`), says so
in its progress line, and the export quantizes the pruned float student to
int8 after training instead, calibrated on training examples.
"""

import dataclasses

from keras_distill._compat import keras
from keras_distill.compress import engine_name
from keras_distill.compress import prune
from keras_distill.compress import pruning_callbacks
from keras_distill.compress import pruning_end_step
from keras_distill.compress import quantize
from keras_distill.compress import sparsity_report
from keras_distill.compress import strip_pruning
from keras_distill.demo import dataset
from keras_distill.demo.training import distil

# The share of the pruning epochs over which sparsity rises to its target; the
# rest train at the target sparsity, so the student recovers from the last
# masks before QAT starts (gradual pruning then fine-tuning, Zhu & Gupta 2017,
# "To prune, or not to prune"). The minimalistic MobileNetV3 image student, 5
# epochs, one run: 88.8 % in int8 with the ramp over all 5 epochs, 91.2 % over
# the first 3, against 92.2 % unpruned and float.
RAMP_FRACTION = 0.6


@dataclasses.dataclass(frozen=True)
class CompressResult:
    """What the compression stage did, and the model to export.

    Args:
        model: the compressed student (a QAT model after quantization-aware
            training).
        engine: str, `"native"` (Keras 3) or `"tfmot"` (tf_keras).
        pruned: bool, whether it was pruned.
        qat: bool, whether it was trained quantization-aware.
        target_sparsity: float, the sparsity asked for (0 without pruning).
        sparsity: float, the fraction of exact zeros in its kernels.
        epochs: int, the epochs of each step (pruning, then QAT).
        histories: dict of Keras history dicts by step (`"prune"`, `"qat"`).
        dense_layers: tuple of str, the layers pruning left dense
            (`layers_kept_dense`). Defaults to ().
        qat_error: str or None, why the engine refused quantization-aware
            training (then `qat` is False and the int8 file is post-training
            quantized); None when QAT ran or was not asked for. Defaults to
            None.
        pruned_model: the pruned float student (masks stripped) before
            quantization-aware training: the int8 file's float twin, to
            measure what quantization alone costs; None when not pruned.
            Defaults to None.
    """

    model: object
    engine: str
    pruned: bool
    qat: bool
    target_sparsity: float
    sparsity: float
    epochs: int
    histories: dict
    dense_layers: tuple = ()
    qat_error: str | None = None
    pruned_model: object = None

    def describe(self) -> str:
        """One line for the stage's progress output."""
        done = [
            f"pruned to {100 * self.sparsity:.0f} % zeros"
            if self.pruned
            else "not pruned",
            "quantization-aware trained" if self.qat else "no QAT",
        ]
        line = f"{', '.join(done)}, {self.epochs} epochs each ({self.engine} engine)"
        if self.qat_error is not None:
            line += (
                f"; QAT refused, so the int8 file is post-training quantized "
                f"(calibrated on training examples): {self.qat_error}"
            )
        return line

    def to_report(self) -> dict:
        """The `compression` entry of `report.json`."""
        return {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if field.name not in ("model", "histories", "pruned_model")
        }


def compress(
    student,
    teacher,
    data,
    *,
    method,
    sparsity: float = 0.5,
    quantization: str = "int8",
    epochs: int = 20,
) -> CompressResult:
    """Prunes, then trains quantization-aware, a distilled student while distilling.

    Prunes to `sparsity` (polynomial schedule over the first `RAMP_FRACTION`
    of `epochs`, then training at `sparsity`) while distilling with `method`,
    keeping an image student's first and last layers dense
    (`layers_kept_dense`), and strips the masks; then, for
    `quantization="int8"`, prepares the student for QAT and distils `epochs`
    more with the zeros kept (`preserve="sparsity"`), so the int8 file keeps
    both the zeros and the accuracy. Other quantizations are post-training:
    the export does them.

    Args:
        student: the distilled student (Functional or Sequential).
        teacher: the teacher it was distilled from.
        data: the `DataBundle`.
        method: the `DemoMethod` to distil with (the run's temperature and
            alpha in it, see `demo.plan`).
        sparsity: float in [0, 1), the fraction of zeros; 0 skips pruning.
            Defaults to 0.5.
        quantization: str, "int8" trains quantization-aware; others skip QAT.
            Defaults to "int8".
        epochs: int, epochs of each of the two steps. Defaults to 20.

    Returns:
        A `CompressResult`.
    """
    model = student
    histories = {}
    dense_layers = ()
    if sparsity > 0:
        steps = dataset.steps_per_epoch(data)
        ramp = max(1, round(RAMP_FRACTION * epochs * steps))  # steps
        frequency = max(1, min(50, ramp // 10))
        # The last mask update within the ramp's steps (one "epoch" of them).
        end_step = pruning_end_step(1, ramp, frequency=frequency)
        dense_layers = layers_kept_dense(student, data)
        pruned = prune(
            student,
            target_sparsity=sparsity,
            end_step=end_step,
            frequency=frequency,
            skip_layers=list(dense_layers),
        )
        distiller, histories["prune"] = distil(
            data,
            teacher,
            student=pruned,
            method=method,
            epochs=epochs,
            learning_rate=method.learning_rate / 2,
            callbacks=pruning_callbacks(),
        )
        model = strip_pruning(distiller.student)
    pruned_model = model if sparsity > 0 else None
    qat_error = None
    if quantization == "int8":
        try:
            qat = quantize(model, preserve="sparsity" if sparsity > 0 else "none")
        except ValueError as err:
            # The engine names the layers it cannot quantize (TF-MOT: GRU,
            # LSTM, MultiHeadAttention, ...): the export quantizes after
            # training instead, and the report says so.
            qat_error = dataset.one_line(err)
        else:
            distiller, histories["qat"] = distil(
                data,
                teacher,
                student=qat,
                method=method,
                epochs=epochs,
                learning_rate=method.learning_rate / 10,
            )
            model = distiller.student
    return CompressResult(
        model=model,
        engine=engine_name(),
        pruned=sparsity > 0,
        qat=quantization == "int8" and qat_error is None,
        target_sparsity=float(sparsity),
        sparsity=zero_fraction(model),
        epochs=epochs,
        histories=histories,
        dense_layers=dense_layers,
        qat_error=qat_error,
        pruned_model=pruned_model,
    )


def layers_kept_dense(student, data) -> tuple:
    """The layers the demo does not prune: an image student's first and last.

    The first convolution reads the pixels and the last layer writes the
    logits: every feature passes through both, and they hold few of the
    weights (`cnn-tiny`: 72 and 160 of 1,384; width-0.35 MobileNetV2: 432 and
    12,800 of about 400,000), so pruning them saves little and costs
    accuracy. Measured on the demo's `cnn-tiny` digits student, distilled with
    `mixup-kd`, pruned to 50 % and trained quantization-aware (20 + 20 epochs,
    two seeds): 1.7 and 1.9 points below the float student with every layer
    pruned, 0.6 above and 0.5 below with these two kept dense.

    Args:
        student: the model to prune.
        data: the `DataBundle`; audio students (convolutions on log-mel
            features) are treated as images.

    The Transformer sequence student's patch embedding (an `EinsumDense`)
    reads the raw signal too and holds few weights (448 of 17,930 on
    MNIST-1D); it is kept dense on both engines (TF-MOT cannot prune an
    `EinsumDense` at all).

    Returns:
        A tuple of layer names: for images and audio, the first and the last of the
        student's top-level layers with a Conv2D or Dense `kernel` (when it
        has at least three, so that something is left to prune); otherwise
        the student's top-level `EinsumDense` layers, if any.
    """
    if data.modality not in ("image", "audio"):
        return tuple(
            layer.name
            for layer in student.layers
            if isinstance(layer, keras.layers.EinsumDense)
        )
    kernels = [
        layer.name
        for layer in student.layers
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))
        and not isinstance(layer, keras.layers.DepthwiseConv2D)
    ]
    return (kernels[0], kernels[-1]) if len(kernels) >= 3 else ()


def zero_fraction(model) -> float:
    """The fraction of exact zeros in a model's kernels (from `sparsity_report`)."""
    entries = sparsity_report(model).values()
    params = sum(entry["params"] for entry in entries)
    return sum(entry["zeros"] for entry in entries) / params if params else 0.0

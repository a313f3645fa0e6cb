"""The demo's plan: every option resolved once, before anything is trained.

`make_plan(config)` turns a `DemoConfig` (what the user said) into a frozen
`Plan` (what will run): the method with the run's temperature and alpha, the
epochs of each stage, the output folder (proved writable), and which Keras and
compression engine run. Every stage reads the plan, so the report records
exactly what the stages did.
"""

import dataclasses
import pathlib

from keras_distill import _compat
from keras_distill._atomic import prepare_output_path
from keras_distill.compress import engine_name
from keras_distill.demo import methods
from keras_distill.demo import presets
from keras_distill.demo.config import DemoConfig
from keras_distill.demo.config import UsageError
from keras_distill.demo.dataset import one_line

# `--fast`: every stage, a few epochs each.
FAST_STUDENT_EPOCHS = 2
FAST_COMPRESS_EPOCHS = 1
FAST_LATENCY_RUNS = 20
LATENCY_RUNS = 100


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a demo run does, resolved once from its `DemoConfig`.

    Args:
        config: the `DemoConfig` as given.
        method: the `DemoMethod` every distillation stage uses, with the run's
            temperature and alpha (`--temperature`, `--alpha`) already in it.
        epochs: int, epochs of the baseline and the distilled student.
        compress_epochs: int, epochs of pruning, and again of QAT.
        output_dir: pathlib.Path, the (writable) output folder.
        latency_runs: int, LiteRT invocations per latency measurement.
        keras: str, the Keras that runs ("Keras 3" or "tf_keras (Keras 2)").
        engine: str, the compression engine: "native" (Keras 3) or "tfmot".
    """

    config: DemoConfig
    method: methods.DemoMethod
    epochs: int
    compress_epochs: int
    output_dir: pathlib.Path
    latency_runs: int
    keras: str
    engine: str

    @property
    def fast(self) -> bool:
        """Whether this is a `--fast` smoke run."""
        return self.config.fast

    def for_data(self, data) -> "Plan":
        """The plan for the loaded `data`: each kind of data gets its recipe.

        Without `--method`, `methods.DEFAULT_METHODS[data.modality]` runs:
        images of at least 32x32 (those the MobileNet student presets take)
        use the image recipe, audio the speech recipe and text the text recipe
        (the run's temperature and alpha still apply, and its epochs and
        compression epochs unless `--epochs`, `--compress-epochs` or `--fast`
        set them). Smaller images and vectors keep the plan's method.

        Raises:
            UsageError: `--method` names a method that does not fit the data
                (Mixup on token ids).
        """
        config = self.config
        modality = data.modality
        if config.method is not None:
            try:
                methods.get_method(config.method, modality)
            except ValueError as err:
                raise UsageError(str(err)) from None
            return self
        if modality == "vector" or (
            modality == "image" and not presets.is_mobile_sized(data.input_shape)
        ):
            # Crops of 8x8 digits cut the digit away: `keras-distill demo
            # --dataset digits --method augmented-kd` distilled to 76.9 %
            # against 88.1 % on labels (one run).
            return self
        method = _with_overrides(methods.get_method(None, modality), config)
        epochs, compress_epochs = self.epochs, self.compress_epochs
        if not config.fast:
            epochs = config.epochs or method.epochs
            compress_epochs = config.compress_epochs or method.compress_epochs
        return dataclasses.replace(
            self, method=method, epochs=epochs, compress_epochs=compress_epochs
        )


def make_plan(config: DemoConfig | None = None) -> Plan:
    """Resolves a `DemoConfig` into the `Plan` every stage reads.

    Args:
        config: the options. Defaults to None (`DemoConfig()`).

    Returns:
        The frozen `Plan`.

    Raises:
        UsageError: an unknown method, a model file that does not exist, or an
            output folder that cannot be written; all before any training.

    Example:
    >>> plan = make_plan(DemoConfig(fast=True, alpha=0.5, output_dir="/tmp/kd"))
    >>> plan.method.alpha, plan.epochs
    (0.5, 2)
    """
    config = DemoConfig() if config is None else config
    try:
        method = methods.get_method(config.method)
    except ValueError as err:
        raise UsageError(str(err)) from None
    method = _with_overrides(method, config)
    _check_files(config)
    if config.fast:
        epochs, compress_epochs = FAST_STUDENT_EPOCHS, FAST_COMPRESS_EPOCHS
    else:
        epochs, compress_epochs = method.epochs, method.compress_epochs
    return Plan(
        config=config,
        method=method,
        epochs=config.epochs or epochs,
        compress_epochs=config.compress_epochs or compress_epochs,
        output_dir=prepare_output_dir(config.output_dir),
        latency_runs=FAST_LATENCY_RUNS if config.fast else LATENCY_RUNS,
        keras=_compat.flavour_name(),
        engine=engine_name(),
    )


def _with_overrides(method, config: DemoConfig) -> methods.DemoMethod:
    """`method` with the run's `--temperature` and `--alpha`, where given."""
    overrides = {
        key: value
        for key, value in (("temperature", config.temperature), ("alpha", config.alpha))
        if value is not None
    }
    return dataclasses.replace(method, **overrides)


def prepare_output_dir(path) -> pathlib.Path:
    """Creates `path` if needed and proves it writable, before any training.

    Raises:
        UsageError: `path` is a file, or cannot be created or written.
    """
    path = pathlib.Path(path).expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise UsageError(f"output directory {str(path)!r} is a file, not a folder")
    try:
        # Proves the folder writable with a real file (root ignores mode bits).
        prepare_output_path(path / "report.json", argname="--output-dir")
    except ValueError as err:
        raise UsageError(
            f"output directory {str(path)!r} is not writable: {one_line(err)}"
        ) from None
    return path


def _check_files(config: DemoConfig) -> None:
    student = config.student
    student_file = student is not None and student.endswith(".keras")
    if student_file and not pathlib.Path(student).expanduser().is_file():
        raise UsageError(f"student file {student!r} does not exist")
    teacher = config.teacher
    if teacher is not None and not pathlib.Path(teacher).expanduser().is_file():
        raise UsageError(f"teacher file {teacher!r} does not exist")

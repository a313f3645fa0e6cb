"""`run_demo(config)`: every stage of `keras-distill demo`, and the output folder.

Output folder (`config.output_dir`):

- `report.json`: dataset, versions, options, seconds per stage, and the
  `models` list (see `keras_distill.run_report` and docs/cli.md);
- `accuracy_vs_size.png`, `training_curves.png`;
- `distilled_student_float32.tflite` and `compressed_student_int8.tflite` (or
  `_float16` / `_dynamic`), each with its LiteRT report `.json`, and
  `labels.txt`: what an Android app needs.
"""

import pathlib
import tempfile
import time

from keras_distill import demo_methods
from keras_distill import pipeline
from keras_distill import plots
from keras_distill import run_report
from keras_distill.demo_config import DemoConfig
from keras_distill.demo_config import UsageError


def prepare_output_dir(path) -> pathlib.Path:
    """Creates `path` if needed and proves it writable, before any training.

    Raises:
        UsageError: `path` is a file, or cannot be created or written.
    """
    path = pathlib.Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise UsageError(f"output directory {str(path)!r} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise UsageError(
            f"output directory {str(path)!r} is not writable ({err.strerror}); "
            "choose another with --output-dir"
        ) from None
    return path.resolve()


class _Clock:
    """Times the stages and prints one line for each."""

    def __init__(self):
        self.seconds = {}
        self.index = 0
        self.start = time.perf_counter()
        self._stage_start = self.start

    def begin(self):
        self._stage_start = time.perf_counter()

    def done(self, stage: str, text: str) -> None:
        self.index += 1
        elapsed = time.perf_counter() - self._stage_start
        self.seconds[stage] = round(elapsed, 2)
        pipeline._stage_line(self.index, stage, text, elapsed)
        self._stage_start = time.perf_counter()

    def total(self) -> float:
        return round(time.perf_counter() - self.start, 2)


def _pct(accuracy: float) -> str:
    return f"{100 * accuracy:.1f} %"


def run_demo(config: DemoConfig | None = None) -> dict:
    """Runs the whole demo and writes the output folder; returns the report.

    Args:
        config: a `DemoConfig`. Defaults to None (`DemoConfig()`, the defaults).

    Returns:
        The report dict, as written to `report.json`.

    Raises:
        UsageError: bad options, data, model files or output folder, found
            before training wherever possible.
    """
    config = DemoConfig() if config is None else config
    try:
        method = demo_methods.get_method(config.method)
    except ValueError as err:
        raise UsageError(str(err)) from None
    student_file = config.student is not None and config.student.endswith(".keras")
    if student_file and not pathlib.Path(config.student).expanduser().is_file():
        raise UsageError(f"student file {config.student!r} does not exist")
    if (
        config.teacher is not None
        and not pathlib.Path(config.teacher).expanduser().is_file()
    ):
        raise UsageError(f"teacher file {config.teacher!r} does not exist")
    output_dir = prepare_output_dir(config.output_dir)
    fast = config.fast
    epochs = config.epochs or (
        pipeline.FAST_EPOCHS["student"] if fast else method.epochs
    )
    compress_epochs = config.compress_epochs or (
        pipeline.FAST_EPOCHS["compress"] if fast else pipeline.COMPRESS_EPOCHS
    )
    clock = _Clock()

    data = pipeline.load_data(
        config.dataset,
        batch_size=config.batch_size,
        seed=config.seed,
        data_dir=config.data_dir,
    )
    _seed(config.seed)
    clock.done(
        "data",
        f"{data.name}: {data.num_examples.get('train')} train / "
        f"{data.num_examples.get('test')} test examples of shape "
        f"{tuple(data.input_shape)}, {data.num_classes} classes",
    )

    teacher, source = pipeline.get_teacher(
        data,
        path=config.teacher,
        cache_dir=config.cache_dir,
        epochs=config.teacher_epochs,
        retrain=config.retrain_teacher,
        fast=fast,
    )
    teacher_accuracy = pipeline.evaluate(teacher, data, fast)
    clock.done(
        "teacher",
        f"{source} {teacher.name!r}, {teacher.count_params():,} params, accuracy "
        f"{_pct(teacher_accuracy)}",
    )

    baseline, baseline_history = pipeline.train_student(
        data,
        student=config.student,
        epochs=epochs,
        learning_rate=method.learning_rate,
        fast=fast,
    )
    baseline_accuracy = pipeline.evaluate(baseline, data, fast)
    clock.done(
        "baseline",
        f"student on labels only, {epochs} epochs, accuracy {_pct(baseline_accuracy)}",
    )

    distiller, distil_history = pipeline.distil(
        data,
        teacher,
        student=config.student,
        method=method,
        temperature=config.temperature,
        alpha=config.alpha,
        epochs=epochs,
        fast=fast,
    )
    student = distiller.student
    distilled_accuracy = pipeline.evaluate(student, data, fast)
    clock.done(
        "distil",
        f"method {method.name}, {epochs} epochs, accuracy {_pct(distilled_accuracy)}",
    )

    compressed, compress_info, compress_histories = pipeline.compress(
        student,
        teacher,
        data,
        method=method,
        sparsity=config.sparsity,
        quantization=config.quantization,
        epochs=compress_epochs,
        fast=fast,
    )
    compress_info["sparsity"] = pipeline.nonzero_fraction(compressed)
    what = [
        f"pruned to {100 * compress_info['sparsity']:.0f} % zeros"
        if compress_info["pruned"]
        else "not pruned",
        "quantization-aware trained" if compress_info["qat"] else "no QAT",
    ]
    clock.done("compress", ", ".join(what) + f", {compress_epochs} epochs each")

    float_report = pipeline.export(
        student, data, output_dir, "distilled_student", "float32", fast=fast
    )
    small_report = pipeline.export(
        compressed,
        data,
        output_dir,
        "compressed_student",
        config.quantization,
        fast=fast,
    )
    clock.done(
        "export",
        f"{pathlib.Path(float_report.path).name} "
        f"({float_report.file_bytes / 1024:.1f} KiB), "
        f"{pathlib.Path(small_report.path).name} "
        f"({small_report.file_bytes / 1024:.1f} KiB), verified in LiteRT",
    )

    models = [
        pipeline.model_entry("teacher", teacher, teacher_accuracy, output_dir),
        pipeline.model_entry(
            "baseline_student", baseline, baseline_accuracy, output_dir
        ),
        pipeline.model_entry(
            "distilled_student",
            student,
            float_report.accuracy,
            output_dir,
            float_report,
        ),
        pipeline.model_entry(
            "compressed_student",
            compressed,
            small_report.accuracy,
            output_dir,
            small_report,
        ),
    ]
    models[-1]["sparsity"] = compress_info["sparsity"]
    histories = {
        "baseline": baseline_history,
        "distil": distil_history,
        **compress_histories,
    }
    title = f"{data.name}: {method.name}"
    figures = [
        plots.plot_accuracy_vs_size(models, output_dir / "accuracy_vs_size.png", title),
        plots.plot_training_curves(
            histories, output_dir / "training_curves.png", title
        ),
    ]
    report = {
        "dataset": {
            "name": data.name,
            "input_shape": list(data.input_shape),
            "num_classes": data.num_classes,
            "class_names": list(data.class_names),
            "num_examples": dict(data.num_examples),
            "description": data.description,
        },
        "versions": run_report.versions(),
        "config": pipeline._as_dict(config),
        "method": {
            "name": method.name,
            "loss": method.loss,
            "temperature": method.temperature
            if config.temperature is None
            else config.temperature,
            "alpha": method.alpha if config.alpha is None else config.alpha,
            "mixup_alpha": method.mixup_alpha,
            "epochs": epochs,
        },
        "compression": {
            **compress_info,
            "epochs": compress_epochs,
            "quantization": config.quantization,
        },
        "teacher_source": source,
        "models": models,
        "files": {
            "labels": "labels.txt",
            "plots": [fig.name for fig in figures],
        },
        "history": _jsonable(histories),
        "elapsed_seconds": clock.seconds,
    }
    clock.done("report", f"{output_dir / 'report.json'}, {len(figures)} plots")
    report["elapsed_seconds"] = {**clock.seconds, "total": clock.total()}
    run_report.write_json_atomic(output_dir / "report.json", report)
    print()
    print(run_report.format_table(models))
    print(
        f"\nEverything is in {output_dir} ({report['elapsed_seconds']['total']:.0f} s)."
    )
    return report


def _seed(seed: int) -> None:
    from keras_distill._compat import keras

    keras.utils.set_random_seed(seed)


def _jsonable(histories: dict) -> dict:
    return {
        stage: {key: [float(v) for v in values] for key, values in history.items()}
        for stage, history in histories.items()
    }

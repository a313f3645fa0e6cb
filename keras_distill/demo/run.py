"""`run_demo(config)`: every stage of `keras-distill demo`, and the output folder.

Output folder (`config.output_dir`):

- `report.json`: dataset, versions, options, seconds per stage, and the
  `models` list (see `keras_distill.demo.report` and docs/cli.md);
- `accuracy_vs_size.png`, `training_curves.png`;
- `distilled_student_float32.tflite` and `compressed_student_int8.tflite` (or
  `_float16` / `_dynamic`), each with its LiteRT report `.json`, and
  `labels.txt`: what an Android app needs.
"""

import dataclasses
import os
import pathlib

from keras_distill._compat import keras
from keras_distill.demo import compression
from keras_distill.demo import dataset
from keras_distill.demo import methods
from keras_distill.demo import plots
from keras_distill.demo import report as run_report
from keras_distill.demo import teacher as teacher_stage
from keras_distill.demo import training
from keras_distill.demo.config import DemoConfig
from keras_distill.demo.config import UsageError
from keras_distill.demo.exporting import export
from keras_distill.demo.progress import StageClock
from keras_distill.export import _atomic

FAST_STUDENT_EPOCHS = 2


def prepare_output_dir(path: "str | os.PathLike") -> pathlib.Path:
    """Creates `path` if needed and proves it writable, before any training.

    Raises:
        UsageError: `path` is a file, or cannot be created or written.
    """
    path = pathlib.Path(path).expanduser().absolute()
    if path.exists() and not path.is_dir():
        raise UsageError(f"output directory {str(path)!r} is a file, not a folder")
    try:
        # Proves the folder writable with a real file (root ignores mode bits).
        _atomic.prepare_output_path(path / "report.json", argname="--output-dir")
    except ValueError as err:
        raise UsageError(
            f"output directory {str(path)!r} is not writable: {dataset.one_line(err)}"
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


def _seed(seed: int) -> None:
    # Seeded before every training stage, so a stage's result does not depend
    # on whether an earlier one ran (e.g. the teacher came from the cache).
    keras.utils.set_random_seed(seed)


def _pct(accuracy: float) -> str:
    return f"{100 * accuracy:.1f} %"


def run_demo(config: DemoConfig | None = None) -> dict:
    """Runs the whole demo and writes the output folder; returns the report.

    Stages, one printed line each: data, teacher, label-only baseline
    student, distilled student, compression (prune + QAT while distilling),
    export (float32 and quantized `.tflite`, verified in LiteRT), report.

    Args:
        config: a `DemoConfig`. Defaults to None (`DemoConfig()`: MNIST-1D, the
            best method, 50 % sparsity, int8).

    Returns:
        The report dict, as written to `report.json`.

    Raises:
        UsageError: bad options, data, model files or output folder, found
            before training wherever possible.

    Example:
    ```python
    report = run_demo(DemoConfig(fast=True, output_dir="/tmp/demo"))
    print(report["models"][2]["accuracy"])  # the distilled student's
    ```
    """
    config = DemoConfig() if config is None else config
    try:
        method = methods.get_method(config.method)
    except ValueError as err:
        raise UsageError(str(err)) from None
    _check_files(config)
    output_dir = prepare_output_dir(config.output_dir)
    fast = config.fast
    epochs = config.epochs or (FAST_STUDENT_EPOCHS if fast else method.epochs)
    compress_epochs = config.compress_epochs or (
        compression.FAST_COMPRESS_EPOCHS if fast else compression.COMPRESS_EPOCHS
    )
    clock = StageClock()

    data = dataset.load_data(
        config.dataset,
        batch_size=config.batch_size,
        seed=config.seed,
        data_dir=config.data_dir,
    )
    clock.done(
        "data",
        f"{data.name}: {data.num_examples.get('train')} train / "
        f"{data.num_examples.get('test')} test examples of shape "
        f"{tuple(data.input_shape)}, {data.num_classes} classes",
    )

    _seed(config.seed)
    teacher, source = teacher_stage.get_teacher(
        data,
        path=config.teacher,
        cache_dir=config.cache_dir,
        epochs=config.teacher_epochs,
        retrain=config.retrain_teacher,
        fast=fast,
    )
    teacher_accuracy = dataset.evaluate(teacher, data, fast)
    clock.done(
        "teacher",
        f"{source} {teacher.name!r}, {teacher.count_params():,} params, accuracy "
        f"{_pct(teacher_accuracy)}",
    )

    _seed(config.seed)
    baseline, baseline_history = training.train_student(
        data,
        student=config.student,
        epochs=epochs,
        learning_rate=method.learning_rate,
        fast=fast,
    )
    baseline_accuracy = dataset.evaluate(baseline, data, fast)
    clock.done(
        "baseline",
        f"student on labels only, {epochs} epochs, accuracy {_pct(baseline_accuracy)}",
    )

    _seed(config.seed)
    distiller, distil_history = training.distil(
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
    distilled_accuracy = dataset.evaluate(student, data, fast)
    clock.done(
        "distil",
        f"method {method.name}, {epochs} epochs, accuracy {_pct(distilled_accuracy)}",
    )

    _seed(config.seed)
    compressed, compress_info, compress_histories = compression.compress(
        student,
        teacher,
        data,
        method=method,
        sparsity=config.sparsity,
        quantization=config.quantization,
        epochs=compress_epochs,
        fast=fast,
    )
    compress_info["sparsity"] = compression.zero_fraction(compressed)
    done = [
        f"pruned to {100 * compress_info['sparsity']:.0f} % zeros"
        if compress_info["pruned"]
        else "not pruned",
        "quantization-aware trained" if compress_info["qat"] else "no QAT",
    ]
    if "note" in compress_info:
        done.append(compress_info["note"])
    else:
        done.append(f"{compress_epochs} epochs each")
    clock.done("compress", ", ".join(done))

    float_tflite = export(
        student, data, output_dir, "distilled_student", "float32", fast=fast
    )
    small_tflite = export(
        compressed,
        data,
        output_dir,
        "compressed_student",
        config.quantization,
        fast=fast,
    )
    clock.done(
        "export",
        f"{pathlib.Path(float_tflite.path).name} "
        f"({float_tflite.file_bytes / 1024:.1f} KiB), "
        f"{pathlib.Path(small_tflite.path).name} "
        f"({small_tflite.file_bytes / 1024:.1f} KiB), verified in LiteRT",
    )

    entry = run_report.model_entry
    models = [
        entry("teacher", teacher, teacher_accuracy, output_dir),
        entry("baseline_student", baseline, baseline_accuracy, output_dir),
        entry(
            "distilled_student",
            student,
            float_tflite.accuracy,
            output_dir,
            float_tflite,
        ),
        entry(
            "compressed_student",
            compressed,
            small_tflite.accuracy,
            output_dir,
            small_tflite,
            params=student.count_params(),  # same layers; QAT adds quantizer state
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
        "config": dataclasses.asdict(config),
        "method": {
            **dataclasses.asdict(method),
            "temperature": method.temperature
            if config.temperature is None
            else config.temperature,
            "alpha": method.alpha if config.alpha is None else config.alpha,
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
            "plots": [figure.name for figure in figures],
        },
        "history": run_report.jsonable_histories(histories),
    }
    clock.done("report", f"{output_dir / 'report.json'}, {len(figures)} plots")
    report["elapsed_seconds"] = {**clock.seconds, "total": clock.total()}
    run_report.write_json_atomic(output_dir / "report.json", report)
    print()
    print(run_report.format_table(models))
    print(f"\nEverything is in {output_dir} ({clock.total():.0f} s).")
    return report

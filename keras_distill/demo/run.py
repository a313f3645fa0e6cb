"""`run_demo(config)`: the pipe of `keras-distill demo`, one stage after another.

    plan -> data -> teacher -> baseline -> distil -> compress -> export -> report

`make_plan` resolves the options once; each stage reads the plan, returns a
small frozen result and prints one line; `report.build_report` makes
`report.json` from the results. Output folder (`plan.output_dir`):

- `report.json`: dataset, versions, options, seconds per stage, and the
  `models` list (see `keras_distill.demo.report` and docs/cli.md);
- `accuracy_vs_size.png`, `accuracy_vs_latency.png`, `training_curves.png`;
- `distilled_student_float32.tflite` and `compressed_student_int8.tflite` (or
  `_float16` / `_dynamic`), each with its LiteRT report `.json`, and
  `labels.txt`: what an Android app needs;
- for text, `vocab.txt` and `tokenizer.json` (`TextTokenizer.write`): the
  app turns a text into the int32 token ids the `.tflite` files take;
- `teacher_float32.tflite` and its `.json`: the float teacher, verified and
  timed in LiteRT the same way, to compare against. It is exported after the
  students, and a teacher the converter or LiteRT refuses (a user's `.keras`
  file with an op LiteRT has no kernel for) does not stop the run: the export
  line and the teacher's `export_error` in `report.json` say why.
"""

import dataclasses
import pathlib

from keras_distill._compat import keras
from keras_distill.demo import compression
from keras_distill.demo import dataset
from keras_distill.demo import plots
from keras_distill.demo import report as run_report
from keras_distill.demo import teacher as teacher_stage
from keras_distill.demo import training
from keras_distill.demo.config import DemoConfig
from keras_distill.demo.exporting import export
from keras_distill.demo.plan import Plan
from keras_distill.demo.plan import make_plan
from keras_distill.demo.progress import FitTimer
from keras_distill.demo.progress import StageClock


@dataclasses.dataclass(frozen=True)
class TeacherResult:
    """The teacher, where it came from ("file", "cache", "trained"), its accuracy."""

    model: object
    source: str
    accuracy: float


@dataclasses.dataclass(frozen=True)
class StudentResult:
    """A trained student, its test accuracy, its Keras history and speed.

    `examples_per_second` is the training speed: training examples times
    epochs over the seconds of `fit` without its validation (`FitTimer`);
    None when it was not timed.
    """

    model: object
    accuracy: float
    history: dict
    examples_per_second: float | None = None


@dataclasses.dataclass(frozen=True)
class ExportResult:
    """The LiteRT reports of the `.tflite` files.

    `distilled` (float32) and `compressed` are the students' reports. `teacher`
    is the float32 teacher's, or None when it was not exported, with the reason
    in `teacher_error` (None when the export succeeded or was not asked for).
    """

    distilled: object
    compressed: object
    teacher: object = None
    teacher_error: str | None = None

    def reports(self) -> list:
        """The LiteRT reports of the files written, students first."""
        found = [self.distilled, self.compressed, self.teacher]
        return [report for report in found if report is not None]


def _seed(plan: Plan) -> None:
    # Seeded before every training stage: model initialization and the
    # Distiller's augmentation do not depend on whether an earlier stage ran.
    # The order of the training batches does: `data.train`'s seeded tf.data
    # shuffle moves on with every pass, a trained (not cached) teacher's too.
    keras.utils.set_random_seed(plan.config.seed)


def _examples(data) -> str:
    """What one example is, for the data stage's line."""
    if data.modality == "audio":
        seconds = data.input_shape[0] / data.sample_rate
        return f"clips of {seconds:g} s at {data.sample_rate:,} Hz"
    if data.modality == "text":
        return (
            f"texts as {data.input_shape[0]} token ids "
            f"({len(data.tokenizer.vocabulary):,}-token vocabulary)"
        )
    return f"examples of shape {tuple(data.input_shape)}"


def _pct(accuracy: float) -> str:
    return f"{100 * accuracy:.1f} %"


def load(plan: Plan):
    """The data stage: the `DataBundle`, cut down for `--fast`."""
    config = plan.config
    data = dataset.load_data(
        config.dataset,
        batch_size=config.batch_size,
        seed=config.seed,
        data_dir=config.data_dir,
        image_size=config.image_size,
        clip_seconds=config.clip_seconds,
        sequence_length=config.sequence_length,
    )
    return dataset.smoke_subset(data) if plan.fast else data


def teach(plan: Plan, data) -> TeacherResult:
    """The teacher stage: a `.keras` file, the cached preset, or a new one."""
    _seed(plan)
    config = plan.config
    epochs = config.teacher_epochs
    if epochs is None and plan.fast:
        epochs = teacher_stage.FAST_TEACHER_EPOCHS
    model, source = teacher_stage.get_teacher(
        data,
        path=config.teacher,
        cache_dir=config.cache_dir,
        epochs=epochs,
        retrain=config.retrain_teacher,
        augmentation=plan.method.teacher_augmentation(data.modality, data.signal),
    )
    return TeacherResult(model, source, dataset.evaluate(model, data))


def baseline(plan: Plan, data) -> StudentResult:
    """The label-only student: what distillation has to beat."""
    _seed(plan)
    model, history = training.train_student(
        data,
        student=plan.config.student,
        epochs=plan.epochs,
        learning_rate=plan.method.learning_rate,
    )
    return StudentResult(model, dataset.evaluate(model, data), history)


def distil(plan: Plan, data, teacher: TeacherResult) -> StudentResult:
    """The same student, distilled from the teacher with the plan's method."""
    _seed(plan)
    timer = FitTimer()
    distiller, history = training.distil(
        data,
        teacher.model,
        student=plan.config.student,
        method=plan.method,
        epochs=plan.epochs,
        callbacks=[timer],
    )
    student = distiller.student
    examples = data.num_examples.get("train")
    speed = None
    if examples and timer.seconds:
        speed = examples * plan.epochs / timer.seconds
    return StudentResult(student, dataset.evaluate(student, data), history, speed)


def input_pipeline(data, student: StudentResult) -> dict:
    """The training pipeline's speed alone, against the distillation's.

    Timed after the last training stage: iterating `data.train` moves its
    seeded shuffle on, which would change what the stages after it train on.

    Returns:
        `report.json`'s `input_pipeline`: `examples_per_second`, `batches`
        and `whole_epoch` (`dataset.input_pipeline_throughput`),
        `training_examples_per_second` (the distil stage's) and `ratio`, the
        first over the second (None when training was not timed).
    """
    measured = dataset.input_pipeline_throughput(data)
    training_speed = student.examples_per_second
    ratio = None
    if training_speed:
        ratio = measured["examples_per_second"] / training_speed
    return {
        **measured,
        "training_examples_per_second": training_speed,
        "ratio": ratio,
    }


def compress(plan: Plan, data, teacher, student) -> compression.CompressResult:
    """Prune, then QAT, while distilling with the plan's method."""
    _seed(plan)
    return compression.compress(
        student.model,
        teacher.model,
        data,
        method=plan.method,
        sparsity=plan.config.sparsity,
        quantization=plan.config.quantization,
        epochs=plan.compress_epochs,
    )


def export_files(plan: Plan, data, student, compressed, teacher=None) -> ExportResult:
    """The students' `.tflite` files, then the float32 teacher's, verified in LiteRT.

    The students' files are what the run is for, so they are written first,
    and their export errors stop the run. The teacher's file is there to
    compare with: a teacher that does not convert or does not run in LiteRT
    (a user's `.keras` file can hold anything) is reported in `teacher_error`
    and the run goes on.

    Args:
        plan: the run's `Plan`.
        data: the `DataBundle`.
        student: the distilled `StudentResult`.
        compressed: the `CompressResult`.
        teacher: the `TeacherResult`. Defaults to None (no teacher file).

    Returns:
        The `ExportResult`.
    """
    distilled = export(
        student.model,
        data,
        plan.output_dir,
        "distilled_student",
        "float32",
        latency_runs=plan.latency_runs,
    )
    compressed_report = export(
        compressed.model,
        data,
        plan.output_dir,
        "compressed_student",
        plan.config.quantization,
        latency_runs=plan.latency_runs,
    )
    teacher_report = teacher_error = None
    if teacher is not None:
        try:
            teacher_report = export(
                teacher.model,
                data,
                plan.output_dir,
                "teacher",
                "float32",
                latency_runs=plan.latency_runs,
            )
        except Exception as err:  # noqa: BLE001 - any failure is reported, not fatal
            teacher_error = f"{type(err).__name__}: {dataset.one_line(err)}"
            # An earlier run's teacher file would pass for this teacher's.
            for suffix in (".tflite", ".json"):
                stale = plan.output_dir / f"teacher_float32{suffix}"
                if stale.is_file():
                    stale.unlink()
                    teacher_error += f" (removed {stale.name} of an earlier run)"
    if data.tokenizer is not None:
        # The app tokenizes as the input pipeline did: vocab.txt and the rules.
        data.tokenizer.write(plan.output_dir)
    return ExportResult(distilled, compressed_report, teacher_report, teacher_error)


def _export_line(files: ExportResult) -> str:
    line = ", ".join(
        f"{pathlib.Path(tflite.path).name} ({tflite.file_bytes / 1024:.1f} KiB)"
        for tflite in files.reports()
    )
    line += ", verified in LiteRT"
    if files.teacher_error is not None:
        line += f"; the teacher was not exported: {files.teacher_error}"
    return line


def run_demo(config: DemoConfig | None = None) -> dict:
    """Runs the whole demo and writes the output folder; returns the report.

    Stages, one printed line each: data, teacher, label-only baseline
    student, distilled student, compression (prune + QAT while distilling),
    export (the students' float32 and quantized `.tflite` files, then the
    float32 teacher's, verified in LiteRT), report.

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
    plan = make_plan(config)
    clock = StageClock()
    data = load(plan)
    plan = plan.for_data(data)
    # A student that cannot take these examples (a MobileNet preset on images
    # below 32x32, a file of another input shape) is refused before training.
    training.make_student(data, plan.config.student)
    clock.done(
        "data",
        f"{data.name}: {data.num_examples.get('train')} train / "
        f"{data.num_examples.get('test')} test {_examples(data)}, "
        f"{data.num_classes} classes ({plan.keras}, {plan.engine} compression "
        "engine)",
    )
    teacher = teach(plan, data)
    clock.done(
        "teacher",
        f"{teacher.source} {teacher.model.name!r}, "
        f"{teacher.model.count_params():,} params, accuracy {_pct(teacher.accuracy)}",
    )
    labels_only = baseline(plan, data)
    clock.done(
        "baseline",
        f"student on labels only, {plan.epochs} epochs, accuracy "
        f"{_pct(labels_only.accuracy)}",
    )
    student = distil(plan, data, teacher)
    clock.done(
        "distil",
        f"method {plan.method.name} (T={plan.method.temperature:g}, "
        f"alpha={plan.method.alpha:g}), {plan.epochs} epochs, accuracy "
        f"{_pct(student.accuracy)}",
    )
    compressed = compress(plan, data, teacher, student)
    clock.done("compress", compressed.describe())
    files = export_files(plan, data, student, compressed, teacher)
    clock.done("export", _export_line(files))
    pipeline = input_pipeline(data, student)
    print("  " + run_report.input_pipeline_line(pipeline, data), flush=True)
    models = run_report.model_entries(
        plan, teacher, labels_only, student, compressed, files
    )
    history = run_report.history_entries(labels_only, student, compressed)
    title = f"{data.name}: {plan.method.name}"
    figures = [
        plots.plot_accuracy_vs_size(
            models, plan.output_dir / "accuracy_vs_size.png", title
        ),
        plots.plot_accuracy_vs_latency(
            models, plan.output_dir / "accuracy_vs_latency.png", title
        ),
        plots.plot_training_curves(
            history, plan.output_dir / "training_curves.png", title
        ),
    ]
    clock.done("report", f"{plan.output_dir / 'report.json'}, {len(figures)} plots")
    report = run_report.build_report(
        plan,
        data,
        teacher,
        compressed,
        models=models,
        history=history,
        input_pipeline=pipeline,
        plots=figures,
        elapsed={**clock.seconds, "total": clock.total()},
    )
    run_report.write_json_atomic(plan.output_dir / "report.json", report)
    print()
    print(run_report.TABLE_CAPTION)
    print(run_report.format_table(report["models"]))
    print(f"\nEverything is in {plan.output_dir} ({clock.total():.0f} s).")
    return report

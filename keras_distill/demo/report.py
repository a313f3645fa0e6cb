"""The demo's `report.json` and its printed table.

`report.json` is documented in docs/cli.md. Its `models` list holds one entry
per model, in pipeline order: `teacher`, `baseline_student`, `distilled_student`,
`compressed_student`. Each has `name`, `accuracy` (a fraction in [0, 1]),
`params` and `macs`; exported models (the float32 teacher, the float32
distilled student, the compressed student) also `tflite` (path relative to the
output directory), `tflite_bytes`, `gzip_bytes`, `latency_ms` (1-thread
median), `latency_ms_p90` and `latency_ms_by_threads`, measured by running the
file in LiteRT. A teacher that could not be exported has `export_error`
instead.
"""

import dataclasses
import json
import os
import pathlib
import platform

from keras_distill import _atomic

MODEL_NAMES = ("teacher", "baseline_student", "distilled_student", "compressed_student")
REQUIRED_MODEL_KEYS = ("name", "accuracy", "params")
EXPORT_KEYS = (
    "tflite",
    "tflite_bytes",
    "gzip_bytes",
    "latency_ms",
    "latency_ms_p90",
    "latency_ms_by_threads",
    "macs",
)
# An input pipeline less than this many times faster than training is reported
# as one that training may wait for.
STARVING_RATIO = 5
# What `TextTokenizer.write` puts beside labels.txt for a text model.
VOCABULARY_FILE = "vocab.txt"
TOKENIZER_FILE = "tokenizer.json"
# The thread counts of the printed table's latency columns, and what they hold.
TABLE_THREADS = (1, 4)
TABLE_CAPTION = (
    "latency: median / p90 ms of one single-example call of the .tflite file "
    "in LiteRT (XNNPACK) on this CPU"
)


def write_json_atomic(path: "str | os.PathLike", data: dict) -> pathlib.Path:
    """Writes `data` as indented JSON; a reader never sees half a file.

    The text is built first (so data that is not JSON leaves the old file
    alone), then written to a temporary file in the same folder that
    `os.replace` renames over `path`.

    Args:
        path: str or path-like, the `.json` file.
        data: a JSON-serializable dict (no NaN or infinity).

    Returns:
        The path written.

    Raises:
        ValueError: `data` holds NaN or infinity.
        TypeError: `data` holds something JSON cannot represent.
    """
    path = pathlib.Path(path)
    text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    _atomic.write_text_atomic(path, text)
    return path


def _keras_macs(model) -> int | None:
    from keras_distill.export import count_macs

    try:
        return count_macs(model)
    except ValueError:  # free spatial dimensions: no fixed count
        return None


def model_entry(
    name: str, model, accuracy: float, output_dir, tflite=None, params=None
) -> dict:
    """One entry of `report.json`'s `models` list.

    Args:
        name: str, one of `MODEL_NAMES`.
        model: the Keras model (its parameters are counted).
        accuracy: float, test accuracy in [0, 1] (of the `.tflite` file when
            there is one).
        output_dir: the output folder; `tflite` is stored relative to it.
        tflite: the model's `TFLiteReport`, if it was exported. Defaults to None.
        params: int, the parameter count to report. Defaults to None
            (`model.count_params()`; pass the plain model's count for a QAT
            model, whose quantizer variables are not parameters of the file).

    Returns:
        A dict with `name`, `accuracy`, `params`, `macs` (of the Keras model),
        and for exported models `tflite`, `tflite_bytes`, `gzip_bytes`,
        `latency_ms` (1-thread median), `latency_ms_p90`,
        `latency_ms_by_threads` (median and p90 at 1 and 4 threads),
        `quantization` and `keras_accuracy`.
    """
    params = model.count_params() if params is None else int(params)
    entry = {"name": name, "accuracy": float(accuracy), "params": params}
    if tflite is None:
        entry["macs"] = _keras_macs(model)
    else:
        entry.update(
            tflite=pathlib.Path(tflite.path)
            .relative_to(pathlib.Path(output_dir))
            .as_posix(),
            tflite_bytes=tflite.file_bytes,
            gzip_bytes=tflite.gzip_bytes,
            latency_ms=tflite.latency_ms_median,
            latency_ms_p90=tflite.latency_ms_p90,
            latency_ms_by_threads=tflite.latency_ms_by_threads,
            macs=tflite.macs,
            quantization=tflite.quantization,
            keras_accuracy=tflite.keras_accuracy,
        )
    return entry


def model_entries(plan, teacher, baseline, student, compressed, files) -> list[dict]:
    """`report.json`'s `models`: one entry per model, from the stages' results.

    Args:
        plan: the run's `Plan`.
        teacher: the teacher stage's `TeacherResult`.
        baseline: the label-only `StudentResult`.
        student: the distilled `StudentResult`.
        compressed: the `CompressResult`.
        files: the `ExportResult` (LiteRT reports of the `.tflite` files; the
            teacher's may be missing, with its `teacher_error`).

    Returns:
        `[teacher, baseline_student, distilled_student, compressed_student]`
        entries (see `model_entry`).
    """
    output_dir = plan.output_dir
    teacher_file = getattr(files, "teacher", None)
    teacher_entry = model_entry(
        "teacher",
        teacher.model,
        teacher.accuracy if teacher_file is None else teacher_file.accuracy,
        output_dir,
        teacher_file,
    )
    if getattr(files, "teacher_error", None) is not None:
        teacher_entry["export_error"] = files.teacher_error
    models = [
        teacher_entry,
        model_entry("baseline_student", baseline.model, baseline.accuracy, output_dir),
        model_entry(
            "distilled_student",
            student.model,
            files.distilled.accuracy,
            output_dir,
            files.distilled,
        ),
        model_entry(
            "compressed_student",
            compressed.model,
            files.compressed.accuracy,
            output_dir,
            files.compressed,
            # Same layers; QAT adds quantizer state that is not in the file.
            params=student.model.count_params(),
        ),
    ]
    models[-1]["sparsity"] = compressed.sparsity
    return models


def history_entries(baseline, student, compressed) -> dict:
    """`report.json`'s `history`: per-epoch logs of every training stage."""
    return jsonable_histories(
        {
            "baseline": baseline.history,
            "distil": student.history,
            **compressed.histories,
        }
    )


def build_report(
    plan, data, teacher, compressed, *, models, history, input_pipeline, plots, elapsed
) -> dict:
    """`report.json`, made from the plan and the stages' results in one place.

    Args:
        plan: the run's `Plan`.
        data: the `DataBundle`.
        teacher: the teacher stage's `TeacherResult`.
        compressed: the `CompressResult`.
        models: `model_entries(...)`.
        history: `history_entries(...)`.
        input_pipeline: the input-pipeline stage's dict (`run.input_pipeline`).
        plots: paths of the plots drawn from `models` and `history`.
        elapsed: seconds per stage, and `total`.

    Returns:
        The report dict, as written to `report.json`.
    """
    return {
        "dataset": dataset_entry(data),
        "versions": versions(),
        "keras": plan.keras,
        "config": dataclasses.asdict(plan.config),
        "method": {**dataclasses.asdict(plan.method), "epochs": plan.epochs},
        "compression": {
            **compressed.to_report(),
            "quantization": plan.config.quantization,
        },
        "teacher_source": teacher.source,
        "input_pipeline": input_pipeline,
        "models": models,
        "files": {
            "labels": "labels.txt",
            **app_files(data),
            "plots": [pathlib.Path(path).name for path in plots],
        },
        "history": history,
        "elapsed_seconds": elapsed,
    }


def dataset_entry(data) -> dict:
    """`report.json`'s `dataset`: what the data are and what the model reads.

    Audio adds the sample rate and clip length the `.tflite` file expects
    (its input is `[1, sample_rate * clip_seconds]` float samples in [-1, 1]);
    text adds the tokenizer's sequence length and vocabulary size.
    """
    entry = {
        "name": data.name,
        "modality": data.modality,
        "input_shape": list(data.input_shape),
        "num_classes": data.num_classes,
        "class_names": list(data.class_names),
        "num_examples": dict(data.num_examples),
        "description": data.description,
    }
    if data.modality == "audio":
        entry["sample_rate"] = data.sample_rate
        entry["clip_seconds"] = data.input_shape[0] / data.sample_rate
    if data.modality == "text":
        entry["sequence_length"] = data.tokenizer.sequence_length
        entry["vocabulary_size"] = len(data.tokenizer.vocabulary)
    return entry


def app_files(data) -> dict:
    """The files besides `labels.txt` an app needs: text's tokenizer files."""
    if data.modality != "text":
        return {}
    return {"vocabulary": VOCABULARY_FILE, "tokenizer": TOKENIZER_FILE}


_UNITS = {"image": "images", "audio": "clips", "text": "texts"}


def input_pipeline_line(section: dict, data=None) -> str:
    """One line on whether training waited for its input pipeline.

    Args:
        section: `report.json`'s `input_pipeline`.
        data: the `DataBundle`, to say "images", "clips" or "texts".
            Defaults to None ("examples").

    Returns:
        The pipeline's speed alone and the distillation's; when the pipeline
        is less than `STARVING_RATIO` times faster, a warning that training
        may wait for data, and what to try.
    """
    unit = "examples" if data is None else _UNITS.get(data.modality, "examples")
    speed = section["examples_per_second"]
    line = f"input pipeline alone: {speed:,.0f} {unit}/s"
    training = section.get("training_examples_per_second")
    ratio = section.get("ratio")
    if training is None or ratio is None:
        return line + " (training was not timed)"
    # 3 significant digits: a ratio just below the threshold must not print as it.
    line += f", {ratio:.3g}x the distillation's {training:,.0f} {unit}/s"
    if ratio < STARVING_RATIO:
        return (
            f"{line}: less than {STARVING_RATIO}x, so training may be waiting "
            "for data (cache decoded examples, smaller images, more parallel "
            "decoding)"
        )
    return line


def versions() -> dict:
    """Versions of Python and of every library the run depends on."""
    from importlib import metadata

    import tensorflow as tf

    from keras_distill import _compat

    found = {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras_flavour": _compat.FLAVOUR,
        "keras": _compat.keras.__version__,
    }
    for package in (
        "keras-distill",
        "tf-keras",
        "tensorflow-model-optimization",
        "ai-edge-litert",
        "tensorflow-datasets",
        "mnist1d",
        "numpy",
    ):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


def check_report(report: dict) -> None:
    """Checks that a report has the documented fields; raises ValueError if not.

    The tests and anyone reading `report.json` with a script can rely on it.
    """
    required = (
        "dataset",
        "versions",
        "keras",
        "compression",
        "input_pipeline",
        "elapsed_seconds",
    )
    for key in (*required, "models"):
        if key not in report:
            raise ValueError(f"report has no {key!r} field")
    if "engine" not in report["compression"]:
        raise ValueError("report's compression field does not name its engine")
    for key in ("examples_per_second", "training_examples_per_second", "ratio"):
        if key not in report["input_pipeline"]:
            raise ValueError(f"report's input_pipeline field has no {key!r}")
    names = [model.get("name") for model in report["models"]]
    if names != list(MODEL_NAMES):
        raise ValueError(f"report models are {names}, expected {list(MODEL_NAMES)}")
    for model in report["models"]:
        missing = [key for key in REQUIRED_MODEL_KEYS if key not in model]
        exported = model["name"] in ("distilled_student", "compressed_student")
        # The teacher is exported too, unless its `export_error` says why not.
        exported |= model["name"] == "teacher" and "export_error" not in model
        if exported:
            missing += [key for key in EXPORT_KEYS if key not in model]
        if missing:
            raise ValueError(f"report model {model['name']!r} lacks {missing}")


def _kib(num_bytes) -> str:
    return "-" if num_bytes is None else f"{num_bytes / 1024:.1f} KiB"


def _latency_cell(model: dict, threads: int) -> str:
    """`median / p90` in ms at `threads`, 3 significant digits; "-" if not timed."""
    stats = (model.get("latency_ms_by_threads") or {}).get(str(threads))
    if stats is None:
        if threads != 1 or model.get("latency_ms") is None:
            return "-"
        stats = {"median": model["latency_ms"], "p90": model.get("latency_ms_p90")}
    cell = f"{stats['median']:.3g}"
    return cell if stats.get("p90") is None else f"{cell} / {stats['p90']:.3g}"


def format_table(models: list[dict]) -> str:
    """The models as an aligned text table: params, accuracy, sizes, MACs, latency.

    The latency columns give the median / 90th percentile, in ms, of one
    single-example call of the `.tflite` file in LiteRT at 1 and 4 threads
    (`TABLE_CAPTION`).
    """
    from keras_distill.export.report import format_count

    header = ("model", "params", "accuracy", ".tflite", "gzip", "MACs")
    header += tuple(f"{n} thread{'s' if n > 1 else ''} ms" for n in TABLE_THREADS)
    rows = [header]
    for model in models:
        params = f"{model['params']:,}"
        if model.get("sparsity"):
            params += f" ({100 * model['sparsity']:.0f}% zero)"
        macs = model.get("macs")
        rows.append(
            (
                model["name"],
                params,
                f"{100 * model['accuracy']:.1f} %",
                _kib(model.get("tflite_bytes")),
                _kib(model.get("gzip_bytes")),
                "-" if macs is None else format_count(macs),
                *(_latency_cell(model, n) for n in TABLE_THREADS),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells))
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def jsonable_histories(histories: dict) -> dict:
    """Keras history dicts by stage, with plain floats (for `report.json`)."""
    return {
        stage: {key: [float(v) for v in values] for key, values in history.items()}
        for stage, history in histories.items()
    }

"""The demo's pictures: accuracy against size and latency, training curves (PNG).

Drawn on `matplotlib.figure.Figure` objects, not pyplot: no display is needed
and the caller's matplotlib backend (a notebook's inline one) is left alone.
Written atomically.
"""

import io
import math
import pathlib

import matplotlib.ticker
from matplotlib.figure import Figure

from keras_distill import _atomic

COLOURS = {
    "teacher": "#4c72b0",
    "baseline_student": "#8c8c8c",
    "distilled_student": "#55a868",
    "compressed_student": "#c44e52",
}
LABELS = {
    "teacher": "teacher",
    "baseline_student": "student, labels only",
    "distilled_student": "student, distilled",
    "compressed_student": "student, distilled + pruned + int8",
}


def _save(fig, path) -> pathlib.Path:
    """Renders `fig` to PNG in memory, then writes it atomically."""
    path = pathlib.Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    _atomic.write_bytes_atomic(path, buffer.getvalue())
    return path


def model_size_bytes(model: dict) -> tuple[float, bool]:
    """The size to plot for a report entry, and whether it is measured.

    Exported models: the gzipped `.tflite` (what a download costs). Others: 4
    bytes per float32 parameter, an estimate.
    """
    if model.get("gzip_bytes"):
        return float(model["gzip_bytes"]), True
    return 4.0 * model["params"], False


def plot_accuracy_vs_size(models: list[dict], path, title: str = "") -> pathlib.Path:
    """One point per model: accuracy (%) against size (KiB, log scale).

    Args:
        models: the `models` list of report.json.
        path: the PNG file to write.
        title: str, e.g. the dataset name. Defaults to "".

    Returns:
        The path written.
    """
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    for model in models:
        size, measured = model_size_bytes(model)
        _point(ax, model, size / 1024, measured)
        ax.annotate(
            f"{100 * model['accuracy']:.1f} %",
            (size / 1024, 100 * model["accuracy"]),
            textcoords="offset points",
            xytext=(8, 6),
            fontsize=9,
        )
    _log_x_axis(ax)
    sizes = [model_size_bytes(m)[0] / 1024 for m in models]
    ax.set_xlim(min(sizes) / 1.5, max(sizes) * 2.0)
    ax.set_xlabel("size (KiB): gzipped .tflite, or 4 bytes/param (hollow)")
    ax.set_ylabel("test accuracy (%)")
    accuracies = [100 * m["accuracy"] for m in models]
    low = max(0.0, min(accuracies) - 5)
    ax.set_ylim(math.floor(low), min(100.0, max(accuracies) + 4))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=9)
    ax.set_title(title or "accuracy against size")
    return _save(fig, path)


def latency_points(models: list[dict]) -> list[tuple[dict, float, bool]]:
    """The models to place on the latency axis: `(entry, ms, measured)`.

    Exported models: the 1-thread median latency of their `.tflite` file in
    LiteRT (`latency_ms`). The label-only baseline has no file; it has the
    distilled student's architecture, so it is placed at that float32 file's
    latency, marked not measured. Any other model without a latency (a teacher
    that was not exported) is left out.
    """
    by_name = {model["name"]: model for model in models}
    points = []
    for model in models:
        if model.get("latency_ms") is not None:
            points.append((model, float(model["latency_ms"]), True))
            continue
        twin = by_name.get("distilled_student", {})
        if model["name"] == "baseline_student" and twin.get("latency_ms") is not None:
            points.append((model, float(twin["latency_ms"]), False))
    return points


def plot_accuracy_vs_latency(models: list[dict], path, title: str = "") -> pathlib.Path:
    """One point per model: accuracy (%) against 1-thread latency (ms, log scale).

    The latency is the median of single-example calls of the model's
    `.tflite` file in LiteRT at one thread (`latency_ms` of report.json); see
    `latency_points` for the baseline student and models without a file.

    Args:
        models: the `models` list of report.json.
        path: the PNG file to write.
        title: str, e.g. the dataset name. Defaults to "".

    Returns:
        The path written.
    """
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    points = latency_points(models)
    fastest = min((latency for _, latency, _ in points), default=None)
    for model, latency, measured in points:
        accuracy = 100 * model["accuracy"]
        _point(ax, model, latency, measured)
        # The fastest point's text goes to its left, clear of its neighbours'.
        left = latency == fastest
        ax.annotate(
            f"{accuracy:.1f} %\n{latency:.3g} ms",
            (latency, accuracy),
            textcoords="offset points",
            xytext=(-10, 4) if left else (10, 4),
            ha="right" if left else "left",
            fontsize=8,
        )
    _log_x_axis(ax)
    if points:
        latencies = [latency for _, latency, _ in points]
        ax.set_xlim(min(latencies) / 4.0, max(latencies) * 4.0)
        accuracies = [100 * model["accuracy"] for model, _, _ in points]
        low = max(0.0, min(accuracies) - 5)
        ax.set_ylim(math.floor(low), min(100.0, max(accuracies) + 6))
    ax.set_xlabel(
        "latency (ms): median of one example, 1 thread, .tflite in LiteRT\n"
        "(hollow: no file of its own, placed at its architecture's float32 file)"
    )
    ax.set_ylabel("test accuracy (%)")
    ax.grid(True, which="both", alpha=0.3)
    if points:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=9)
    ax.set_title(title or "accuracy against latency")
    return _save(fig, path)


def _point(ax, model: dict, x: float, measured: bool) -> None:
    """The model's point at `x` and its accuracy: filled if measured, else hollow."""
    colour = COLOURS.get(model["name"], "black")
    ax.scatter(
        x,
        100 * model["accuracy"],
        s=120,
        color=colour if measured else "white",
        edgecolors=colour,
        linewidths=2,
        zorder=3,
        label=LABELS.get(model["name"], model["name"]),
    )


def _log_x_axis(ax) -> None:
    """A log x axis with ticks at 1, 2, 5 x 10^k, written as plain numbers."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(
        matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}")
    )
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def _curve(
    ax, history: dict, key: str, label: str, colour: str, offset: int, epochs: int
):
    values = history.get(key)
    if values:
        # Validation runs every `stride` epochs (`validation_freq`), at its end.
        stride = max(1, epochs // len(values))
        x = [offset + stride * (i + 1) for i in range(len(values))]
        ax.plot(x, values, label=label, color=colour)


def plot_training_curves(histories: dict, path, title: str = "") -> pathlib.Path:
    """Student loss (test split), distillation loss and test accuracy per epoch.

    Args:
        histories: dict of stage name (`"baseline"`, `"distil"`, `"prune"`,
            `"qat"`) to a Keras `History.history` dict. The compression stages
            continue the distillation curve's epoch axis.
        path: the PNG file to write.
        title: str. Defaults to "".

    Returns:
        The path written.
    """
    fig = Figure(figsize=(14, 4))
    axes = fig.subplots(1, 3)
    panels = (
        ("val_student_loss", "student (label) loss, test split"),
        ("distillation_loss", "distillation loss, training"),
        ("val_accuracy", "test accuracy (%)"),
    )
    stages = (
        ("baseline", COLOURS["baseline_student"], "labels only"),
        ("distil", COLOURS["distilled_student"], "distillation"),
        ("prune", "#dd8452", "pruning"),
        ("qat", COLOURS["compressed_student"], "quantization-aware"),
    )
    for ax, (key, label) in zip(axes, panels):
        offset = 0
        for stage, colour, stage_label in stages:
            history = histories.get(stage)
            if not history:
                continue
            if key == "val_student_loss" and stage == "baseline":
                values = {key: history.get("val_loss")}
            elif key == "val_accuracy":
                values = {key: [100 * v for v in _val_accuracy(history)]}
            else:
                values = history
            start = 0 if stage == "baseline" else offset
            epochs = len(history.get("loss", next(iter(history.values()), [])))
            _curve(ax, values, key, stage_label, colour, start, epochs)
            if stage != "baseline":
                offset += epochs
        ax.set_title(label)
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, y=1.02)
    return _save(fig, path)


def _val_accuracy(history: dict) -> list:
    for key in ("val_sparse_categorical_accuracy", "val_accuracy"):
        if key in history:
            return history[key]
    return []

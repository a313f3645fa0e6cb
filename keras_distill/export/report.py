"""What LiteRT measured on an exported `.tflite` file."""

import dataclasses
import json
import os
import pathlib

from keras_distill import _atomic


@dataclasses.dataclass
class TFLiteReport:
    """The verification report of one `.tflite` file, as run in LiteRT.

    Every number comes from running the file itself in
    `ai_edge_litert.interpreter.Interpreter` on raw evaluation examples (int8
    inputs and outputs are quantized and dequantized with the tensors' own
    scale and zero point, as an app would). Saved next to the model as JSON
    (`student.tflite` -> `student.json`).

    Attributes:
        path: the `.tflite` file.
        quantization: `"float32"`, `"float16"`, `"dynamic"` or `"int8"`; None
            when the caller did not say.
        input_dtype: the file's input tensor dtype (`"float32"` or `"int8"`).
        output_dtype: the file's output tensor dtype.
        input_shape: the input shape, -1 for the free batch axis.
        num_classes: the size of the output (logits) axis.
        num_examples: how many evaluation examples were run.
        accuracy: top-1 accuracy of the file on them, in [0, 1]; None without
            labels.
        file_bytes: the file's size.
        gzip_bytes: its size gzipped at level 9; what a download costs, and what
            pruning buys (zeros compress, the raw file does not shrink).
        latency_ms_median: median wall time of one single-example `invoke()`
            at 1 thread on the host CPU, in milliseconds (reports written
            before `latency_ms_by_threads` existed timed set input, invoke and
            read output at `num_threads`).
        latency_runs: how many timed calls each latency is over.
        num_threads: the interpreter's CPU threads for the evaluation run.
        keras_accuracy: the Keras model's accuracy on the same examples, when a
            Keras model was given; None otherwise.
        top1_agreement: the fraction of examples where the file and the Keras
            model pick the same class; None without a Keras model.
        max_abs_logit_diff: the largest absolute difference between the file's
            (dequantized) outputs and the Keras model's; None without one.
        labels_path: the labels file written for the app, if any.
        keras_flavour: `"keras3"` or `"tf_keras"`.
        tensorflow_version: the TensorFlow that converted the file.
        litert_version: the `ai-edge-litert` that ran it.
        latency_ms_p90: 90th percentile of the same 1-thread calls as
            `latency_ms_median`; None in older reports.
        latency_ms_by_threads: `{"1": {"median": ms, "p90": ms}, "4": {...}}`,
            one entry per thread count timed (JSON keys are strings; read it
            with `latency_ms(threads, stat)`); empty in older reports.
        warmup_runs: untimed calls before timing, per thread count; None in
            older reports (which used 5).
        xnnpack: True when LiteRT's default CPU delegate, XNNPACK, ran (some
            of) the file's ops, as it does on Android; None if unknown.
        macs: multiply-accumulates per example of the Keras model the file came
            from (`count_macs`); None without a Keras model or with free
            spatial dimensions.
        float_ops: for an `"int8"` file, the ops that still compute in float
            (`find_float_ops`: op, layer when known, output tensor), the
            QUANTIZE and DEQUANTIZE of float input and output left out; [] for
            a fully integer file; None for other modes and older reports.
    """

    path: str
    quantization: str | None
    input_dtype: str
    output_dtype: str
    input_shape: list[int]
    num_classes: int
    num_examples: int
    accuracy: float | None
    file_bytes: int
    gzip_bytes: int
    latency_ms_median: float
    latency_runs: int
    num_threads: int
    keras_accuracy: float | None = None
    top1_agreement: float | None = None
    max_abs_logit_diff: float | None = None
    labels_path: str | None = None
    keras_flavour: str = ""
    tensorflow_version: str = ""
    litert_version: str = ""
    latency_ms_p90: float | None = None
    latency_ms_by_threads: dict[str, dict[str, float]] = dataclasses.field(
        default_factory=dict
    )
    warmup_runs: int | None = None
    xnnpack: bool | None = None
    macs: int | None = None
    float_ops: list[str] | None = None

    def latency_ms(self, threads: int = 1, stat: str = "median") -> float | None:
        """One latency of the report, in milliseconds.

        Args:
            threads: the thread count. Defaults to 1.
            stat: `"median"` or `"p90"`. Defaults to `"median"`.

        Returns:
            The latency, or None when it was not measured at `threads`. A
            report from before `latency_ms_by_threads` gives its
            `latency_ms_median` at its `num_threads`, and no p90.

        Raises:
            ValueError: `stat` is neither `"median"` nor `"p90"`.

        Example:

        >>> report.latency_ms(4, "p90")  # doctest: +SKIP
        0.52
        """
        if stat not in ("median", "p90"):
            raise ValueError(f"`stat` must be 'median' or 'p90', got {stat!r}.")
        stats = self.latency_ms_by_threads.get(str(threads))
        if stats is not None:
            return stats[stat]
        if not self.latency_ms_by_threads and threads == self.num_threads:
            # An older report timed only at `num_threads`, without p90.
            return self.latency_ms_median if stat == "median" else None
        return None

    def to_dict(self) -> dict:
        """The report as a JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TFLiteReport":
        """Rebuilds a report from `to_dict()` output (e.g. a loaded JSON file).

        Raises:
            ValueError: if keys are missing or unknown.
        """
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"Unknown TFLiteReport keys: {unknown}.")
        try:
            return cls(**data)
        except TypeError as err:
            raise ValueError(f"Incomplete TFLiteReport data: {err}") from err

    def save_json(self, path: "str | os.PathLike") -> pathlib.Path:
        """Writes the report as indented JSON, atomically.

        Args:
            path: the `.json` file to write.

        Returns:
            The absolute path written.

        Raises:
            ValueError: if `path` cannot be written.
        """
        target = _atomic.resolve_output_path(path, argname="path", suffix=".json")
        _atomic.prepare_output_path(target, argname="path")
        text = json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"
        _atomic.write_text_atomic(target, text)
        return target

    @classmethod
    def load_json(cls, path: "str | os.PathLike") -> "TFLiteReport":
        """Reads a report written by `save_json`."""
        with open(path, encoding="utf-8") as file:
            return cls.from_dict(json.load(file))

    def summary(self) -> str:
        """One line for logs and the CLI; latencies to 3 significant digits."""
        parts = [
            f"{pathlib.Path(self.path).name}: {self.quantization or '?'}",
            f"{self.file_bytes / 1024:.1f} KiB (gzip {self.gzip_bytes / 1024:.1f} KiB)",
        ]
        if self.accuracy is not None:
            accuracy = f"accuracy {100 * self.accuracy:.2f}%"
            if self.keras_accuracy is not None:
                accuracy += f" (Keras {100 * self.keras_accuracy:.2f}%)"
            parts.append(accuracy)
        if self.top1_agreement is not None:
            parts.append(f"top-1 agreement {100 * self.top1_agreement:.2f}%")
        if self.macs is not None:
            parts.append(f"{format_count(self.macs)} MACs")
        threads = sorted(int(n) for n in self.latency_ms_by_threads)
        threads = threads or [self.num_threads]
        for n in threads:
            latency = f"{self.latency_ms(n):.3g} ms/example"
            p90 = self.latency_ms(n, "p90")
            if p90 is not None:
                latency += f" (p90 {p90:.3g})"
            parts.append(f"{latency} at {n} thread{'s' if n > 1 else ''}")
        if self.float_ops:
            parts.append(
                f"{len(self.float_ops)} float ops in an int8 file "
                f"({', '.join(op.split(' (')[0] for op in self.float_ops)})"
            )
        return ", ".join(parts)


def format_count(value: int) -> str:
    """A count with 3 significant digits and an SI suffix: 2368 -> "2.37K".

    Example:

    >>> format_count(300_774_272)
    '301M'
    """
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return str(value)

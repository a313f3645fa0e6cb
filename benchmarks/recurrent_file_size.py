"""Size and latency of the unrolled GRU/LSTM students' files, before/after the merge.

Issue 19 follow-up: the MNIST-1D GRU and LSTM students' QAT int8 files were
larger than their float32 files. The converter gives every unrolled time
step's FULLY_CONNECTED its own int32 copy of the bias, each with its own
per-channel scales and int64 zero points; `keras_distill.export.dedup` merges
identical constant tensors, and keeps one part per name scope of the fused
tensor names (1,030 characters for each step's input in the post-training
int8 file). For each preset this converts the student (as
initialized, seed 0: sizes and latency do not depend on training) in
float32, dynamic and int8 (calibrated on 200 training signals), and its QAT
copy (`compress.quantize`, one epoch on 512 signals so its ranges are
learned) in int8, each without and with the merge, and prints the file
sizes, 1-thread LiteRT latency (XNNPACK; the median over 5 rounds, the two
files taking turns, of the median of `--runs` calls) and the
largest difference between the two files' outputs on 200 test signals.
Keras 3 only (TF-MOT has no QAT for GRU/LSTM).

    python3 benchmarks/recurrent_file_size.py [--students gru lstm] [--runs 200]
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import json  # noqa: E402
from unittest import mock  # noqa: E402

import numpy as np  # noqa: E402
from ai_edge_litert.interpreter import Interpreter  # noqa: E402

from keras_distill import compress  # noqa: E402
from keras_distill._compat import keras  # noqa: E402
from keras_distill.data import load_dataset  # noqa: E402
from keras_distill.demo import presets  # noqa: E402
from keras_distill.export import convert  # noqa: E402
from keras_distill.export.latency import measure_latency  # noqa: E402


def outputs(content: bytes, x: np.ndarray) -> np.ndarray:
    interpreter = Interpreter(model_content=content, num_threads=1)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    rows = []
    for row in x:
        interpreter.set_tensor(inp["index"], row[None].astype(inp["dtype"]))
        interpreter.invoke()
        rows.append(interpreter.get_tensor(out["index"]).astype(np.float64))
    return np.concatenate(rows)


def both_files(model, **kwargs) -> tuple[bytes, bytes]:
    """The converter's bytes without the merge, and what convert_tflite returns."""
    with mock.patch.object(convert.dedup, "deduplicate_constants", lambda c: c):
        raw = convert.convert_tflite(model, **kwargs)
    return raw, convert.convert_tflite(model, **kwargs)


def latencies_ms(contents: tuple[bytes, ...], runs: int, rounds: int = 5) -> list:
    """Median over `rounds` of each file's 1-thread median, the files taking
    turns, so that a busy machine slows both alike."""
    medians = [[] for _ in contents]
    for _ in range(rounds):
        for times, content in zip(medians, contents):
            timed = measure_latency(content, threads=(1,), runs=runs, warmup_runs=20)
            times.append(timed[1]["median"])
    return [float(np.median(times)) for times in medians]


def measure(name: str, data, runs: int) -> list[dict]:
    keras.utils.set_random_seed(0)
    student = presets.student_preset(name, data)
    qat = compress.quantize(student)
    qat.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    qat.fit(data.x_train[:512], data.y_train[:512], epochs=1, verbose=0)
    cases = {
        "float32": (student, {"quantization": "float32"}),
        "dynamic": (student, {"quantization": "dynamic"}),
        "int8": (
            student,
            {"quantization": "int8", "representative_data": data.x_train[:200]},
        ),
        "qat_int8": (qat, {"quantization": "int8"}),
    }
    rows = []
    for mode, (model, kwargs) in cases.items():
        raw, merged = both_files(model, **kwargs)
        x = data.x_test[:200]
        ms_before, ms_after = latencies_ms((raw, merged), runs)
        rows.append(
            {
                "student": name,
                "mode": mode,
                "bytes_before": len(raw),
                "bytes_after": len(merged),
                "ms_before": ms_before,
                "ms_after": ms_after,
                "max_abs_output_diff": float(
                    np.max(np.abs(outputs(raw, x) - outputs(merged, x)))
                ),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", nargs="+", default=["gru", "lstm"])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args(argv)
    data = load_dataset("mnist1d")
    rows = [row for name in args.students for row in measure(name, data, args.runs)]
    print()
    print(
        "| student | mode | KiB before | KiB after | ms before | ms after | max diff |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['student']} | {r['mode']} | {r['bytes_before'] / 1024:.1f} | "
            f"{r['bytes_after'] / 1024:.1f} | {r['ms_before']:.4f} | "
            f"{r['ms_after']:.4f} | {r['max_abs_output_diff']:.3g} |"
        )


if __name__ == "__main__":
    main()

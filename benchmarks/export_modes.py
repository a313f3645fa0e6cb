"""Size, accuracy and latency of each export mode, measured in LiteRT.

Trains a small MLP (Normalization inside, so the file takes raw signals) on
MNIST-1D, exports it in every mode with `export_and_verify`, and prints what the
reports say. Runs in either Keras flavour:

    python benchmarks/export_modes.py
    TF_USE_LEGACY_KERAS=1 python benchmarks/export_modes.py

The issue's targets: the full-int8 file at most 0.3x the float32 file, and its
accuracy within 0.5 points of the Keras float model.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import tempfile  # noqa: E402

from mnist1d.data import get_dataset_args  # noqa: E402
from mnist1d.data import make_dataset  # noqa: E402

from keras_distill import _compat  # noqa: E402
from keras_distill import keras  # noqa: E402
from keras_distill.export import export_and_verify  # noqa: E402


def train_student(x, y, epochs):
    keras.utils.set_random_seed(0)
    norm = keras.layers.Normalization()
    norm.adapt(x)
    model = keras.Sequential(
        [
            keras.Input(shape=x.shape[1:]),
            norm,
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10),
        ],
        name="student",
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--out", default=None, help="folder; a temp dir if unset")
    args = parser.parse_args()

    data = make_dataset(get_dataset_args())
    x, y = data["x"].astype("float32"), data["y"]
    x_test, y_test = data["x_test"].astype("float32"), data["y_test"]
    model = train_student(x, y, args.epochs)
    print(
        f"Keras flavour: {_compat.flavour_name()}; MNIST-1D, "
        f"{model.count_params()} parameters, {args.epochs} epochs"
    )

    out = args.out or tempfile.mkdtemp(prefix="keras_distill_bench_")
    rows = []
    for quantization, int8_io in [
        ("float32", False),
        ("float16", False),
        ("dynamic", False),
        ("int8", False),
        ("int8", True),
    ]:
        name = f"student_{quantization}{'_io' if int8_io else ''}.tflite"
        report = export_and_verify(
            model,
            os.path.join(out, name),
            quantization,
            representative_data=x if quantization == "int8" else None,
            x_eval=x_test,
            y_eval=y_test,
            int8_io=int8_io,
            latency_runs=200,
        )
        rows.append((name, report))

    float_bytes = rows[0][1].file_bytes
    print(f"Keras float accuracy: {100 * rows[0][1].keras_accuracy:.2f}%")
    header = (
        f"{'file':<28}{'bytes':>9}{'x f32':>7}{'gzip':>9}{'acc %':>8}"
        f"{'Δ pts':>7}{'agree %':>9}{'max|Δ|':>9}{'ms':>8}"
    )
    print(header)
    for name, r in rows:
        print(
            f"{name:<28}{r.file_bytes:>9}{r.file_bytes / float_bytes:>7.2f}"
            f"{r.gzip_bytes:>9}{100 * r.accuracy:>8.2f}"
            f"{100 * (r.accuracy - r.keras_accuracy):>+7.2f}"
            f"{100 * r.top1_agreement:>9.2f}{r.max_abs_logit_diff:>9.4f}"
            f"{r.latency_ms_median:>8.4f}"
        )
    int8 = rows[3][1]
    print(
        f"int8 / float32 size: {int8.file_bytes / float_bytes:.3f} (target <= 0.3); "
        f"accuracy change: {100 * (int8.accuracy - int8.keras_accuracy):+.2f} points "
        "(target within 0.5)"
    )
    print(f"files and JSON reports in {out}")


if __name__ == "__main__":
    main()

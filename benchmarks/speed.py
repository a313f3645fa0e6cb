"""Times a distillation epoch against its floor: a student epoch plus a teacher pass.

In one process, on the same models and data, interleaves epochs of:

- `student`: the student trained alone on the labels;
- `teacher_pass`: one inference pass of the teacher over the training set (a
  compiled forward call per batch, outputs discarded);
- `distiller`: `keras_distill.Distiller` (teacher live, softened KL, alpha 0.1);
- `keras_distillation`: Keras 3's `keras.distillation.Distiller` given a correct
  softened-KL loss (`SoftenedKL` below: softmax at temperature T, times T^2);
- `cached`: `keras_distill.Distiller(cached_teacher=True)` on the dataset
  `keras_distill.cache_teacher_outputs` returned (teacher run once, beforehand).

Each repeat runs every kind once, in a rotated order, so machine noise (other
processes on the CPUs) hits all of them alike; the table gives medians and the
ratios of the issue's goals. Then, unless --no-memory, each training kind runs
in its own subprocess to measure the peak memory of one epoch (see `memory_run`).

    python3 benchmarks/speed.py                      # Keras 3, a few minutes
    TF_USE_LEGACY_KERAS=1 python3 benchmarks/speed.py
    python3 benchmarks/speed.py --repeats 9 --jit-compile false
"""

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from keras_distill import _compat  # noqa: E402
from keras_distill import keras  # noqa: E402
from keras_distill.distiller import Distiller  # noqa: E402
from keras_distill.teacher_cache import cache_teacher_outputs  # noqa: E402

TEMPERATURE, ALPHA = 3.0, 0.1
KINDS = ["student", "teacher_pass", "distiller", "keras_distillation", "cached"]


def load_data(repeat):
    """MNIST-1D training set (4000 x 40, 10 classes), tiled `repeat` times."""
    from mnist1d.data import get_dataset_args
    from mnist1d.data import make_dataset

    d = make_dataset(get_dataset_args())
    x = np.tile(d["x"].astype("float32"), (repeat, 1))
    y = np.tile(d["y"].astype("int64"), repeat)
    return x, y


def mlp(hidden, name):
    layers = [keras.Input((40,))]
    layers += [keras.layers.Dense(u, activation="relu") for u in hidden]
    layers.append(keras.layers.Dense(10))
    return keras.Sequential(layers, name=name)


def dense_macs(model):
    """Multiply-accumulates of one example's forward pass (Dense layers)."""
    return sum(
        int(np.prod(layer.kernel.shape))
        for layer in model.layers
        if isinstance(layer, keras.layers.Dense)
    )


def dataset(x, y, batch_size):
    data = tf.data.Dataset.from_tensor_slices((x, y))
    return data.shuffle(len(x), seed=0).batch(batch_size).prefetch(tf.data.AUTOTUNE)


def softened_kl_class():
    """A `keras.distillation.DistillationLoss` with Hinton's loss (Keras 3 only)."""

    class SoftenedKL(keras.distillation.DistillationLoss):
        def __init__(self, temperature):
            self.temperature = temperature

        def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
            t = self.temperature
            log_p_t = keras.ops.log_softmax(teacher_outputs / t, axis=-1)
            log_p_s = keras.ops.log_softmax(student_outputs / t, axis=-1)
            kl = keras.ops.sum(keras.ops.exp(log_p_t) * (log_p_t - log_p_s), axis=-1)
            return keras.ops.mean(kl) * t**2

    return SoftenedKL


def build(kind, x, y, args):
    """Returns a function that runs one epoch of `kind`, and a description."""
    keras.utils.set_random_seed(0)
    teacher = mlp(args.teacher_hidden, "teacher")
    student = mlp(args.student_hidden, "student")
    compile_kwargs = {}
    if args.jit_compile != "default":
        compile_kwargs["jit_compile"] = args.jit_compile == "true"
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    data = dataset(x, y, args.batch_size)
    if kind == "student":
        model = student
        model.compile(optimizer="adam", loss=loss, **compile_kwargs)
    elif kind == "teacher_pass":
        # What the Distiller adds per batch: a compiled forward pass, one call
        # per batch as fit makes. (teacher.predict also copies every batch's
        # outputs to NumPy, which would inflate the floor.)
        forward = tf.function(
            lambda xb: teacher(xb, training=False),
            jit_compile=compile_kwargs.get("jit_compile", False),
        )

        def teacher_pass():
            for xb, _ in data:
                forward(xb)

        return teacher_pass, teacher
    elif kind == "distiller":
        model = Distiller(
            student=student, teacher=teacher, temperature=TEMPERATURE, alpha=ALPHA
        )
        model.compile(optimizer="adam", loss=loss, **compile_kwargs)
    elif kind == "keras_distillation":
        if _compat.LEGACY_KERAS:
            return None, None
        model = keras.distillation.Distiller(
            teacher=teacher,
            student=student,
            distillation_losses=softened_kl_class()(TEMPERATURE),
            student_loss_weight=ALPHA,
        )
        model.compile(optimizer="adam", loss=loss, **compile_kwargs)
    elif kind == "cached":
        data = cache_teacher_outputs(teacher, x, y, batch_size=args.batch_size, seed=0)
        model = Distiller(
            student=student, cached_teacher=True, temperature=TEMPERATURE, alpha=ALPHA
        )
        model.compile(optimizer="adam", loss=loss, **compile_kwargs)
    else:
        raise ValueError(f"unknown kind {kind!r}; choose from {KINDS}")
    return lambda: model.fit(data, epochs=1, verbose=0), model


def _status(field):
    """A `VmRSS`/`VmHWM` line of /proc/self/status, in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_run(kind, args):
    """Peak resident memory (MiB) of one epoch of `kind`, in a fresh process.

    Builds the models and runs a first epoch (tracing, optimizer slots, tf.data
    buffers), then resets the kernel's high-water mark (`echo 5 >
    /proc/self/clear_refs`), reads the resident set (`VmRSS`) and runs a second
    epoch; `VmHWM` afterwards is that epoch's peak. tracemalloc cannot see
    TensorFlow's C++ allocations, and tf.config.experimental.get_memory_info
    works for GPUs only.
    """
    x, y = load_data(args.repeat)
    run, _ = build(kind, x, y, args)
    run()
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _status("VmRSS")
    run()
    peak = _status("VmHWM")
    print(json.dumps({"kind": kind, "before_mib": before, "peak_mib": peak}))


def measure_memory(args):
    results = {}
    for kind in ["student", "distiller", "keras_distillation", "cached"]:
        if kind == "keras_distillation" and _compat.LEGACY_KERAS:
            continue
        command = [sys.executable, os.path.abspath(__file__), "--memory-run", kind]
        command += _forwarded(args)
        out = subprocess.run(command, capture_output=True, text=True, check=True)
        results[kind] = json.loads(out.stdout.strip().splitlines()[-1])
    return results


def _forwarded(args):
    return [
        "--batch-size",
        str(args.batch_size),
        "--repeat",
        str(args.repeat),
        "--jit-compile",
        args.jit_compile,
        "--student-hidden",
        ",".join(map(str, args.student_hidden)),
        "--teacher-hidden",
        ",".join(map(str, args.teacher_hidden)),
    ]


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{os.cpu_count()} CPUs ({model}), {platform.system()}, Python "
        f"{platform.python_version()}, TF {tf.__version__}, "
        f"{_compat.flavour_name()} {keras.__version__}, load average at start "
        f"{load:.1f}"
    )


def report(wall, cpu):
    """Prints epoch times and the goals' ratios.

    Other processes share the CPUs, so wall-clock epochs vary a lot. Three
    estimates are shown: the median wall time (the typical epoch under that
    load), the minimum wall time (the least disturbed epoch) and the median CPU
    time of this process (`time.process_time`: all its threads; it counts work
    rather than waiting, so it is the least sensitive to other processes).
    """
    stats = {
        "median wall": {k: statistics.median(t) for k, t in wall.items()},
        "min wall": {k: min(t) for k, t in wall.items()},
        "median CPU": {k: statistics.median(t) for k, t in cpu.items()},
    }
    print(
        "| epoch of | wall median s | wall min s | wall max s | CPU median s "
        "| CPU / student CPU |"
    )
    print("|---|---|---|---|---|---|")
    for kind, t in wall.items():
        c = stats["median CPU"]
        print(
            f"| {kind} | {statistics.median(t):.3f} | {min(t):.3f} | {max(t):.3f} "
            f"| {c[kind]:.3f} | {c[kind] / c['student']:.2f} |"
        )
    print("\nfloor = student + teacher_pass\n")
    print("| ratio | " + " | ".join(f"from {k}" for k in stats) + " | goal |")
    print("|---" * (len(stats) + 2) + "|")
    goals = [("distiller / floor", "distiller", None, 1.10)]
    if "keras_distillation" in wall:
        goals.append(
            ("distiller / keras_distillation", "distiller", "keras_distillation", 1.0)
        )
    goals.append(("cached / student", "cached", "student", 1.3))
    for name, top, bottom, goal in goals:
        values = []
        for v in stats.values():
            base = v["student"] + v["teacher_pass"] if bottom is None else v[bottom]
            values.append(f"{v[top] / base:.2f}")
        print(f"| {name} | " + " | ".join(values) + f" | <= {goal:.2f} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=4, help="tile MNIST-1D")
    parser.add_argument(
        "--jit-compile", choices=["default", "true", "false"], default="default"
    )
    parser.add_argument("--student-hidden", default="64,64")
    parser.add_argument("--teacher-hidden", default="512,512,512")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--memory-run", choices=KINDS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.student_hidden = [int(u) for u in str(args.student_hidden).split(",")]
    args.teacher_hidden = [int(u) for u in str(args.teacher_hidden).split(",")]
    if args.memory_run:
        return memory_run(args.memory_run, args)

    x, y = load_data(args.repeat)
    print(f"Machine: {machine()}")
    runs, wall, cpu = {}, {}, {}
    for kind in KINDS:
        start = time.perf_counter()
        run, model = build(kind, x, y, args)
        if run is None:
            print(f"{kind}: skipped (needs Keras 3)")
            continue
        run()  # warm-up: tracing and compilation are not timed
        runs[kind], wall[kind], cpu[kind] = run, [], []
        if kind == "cached":
            print(
                f"cached: teacher outputs cached, then warm-up, in "
                f"{time.perf_counter() - start:.2f} s"
            )
        trained = getattr(model, "student", model)
        jit = (
            args.jit_compile == "true"
            if kind == "teacher_pass"
            else getattr(model, "jit_compile", None)
        )
        print(
            f"{kind}: {dense_macs(trained):,} MACs per example in the model it "
            f"runs or trains, jit_compile={jit}"
        )
    order = list(runs)
    for r in range(args.repeats):
        for kind in order[r % len(order) :] + order[: r % len(order)]:
            start, start_cpu = time.perf_counter(), time.process_time()
            runs[kind]()
            wall[kind].append(time.perf_counter() - start)
            cpu[kind].append(time.process_time() - start_cpu)
    print(
        f"\n{len(x)} examples, batch {args.batch_size}, {args.repeats} interleaved "
        f"repeats, jit_compile={args.jit_compile}\n"
    )
    report(wall, cpu)
    if not args.no_memory:
        memory = measure_memory(args)
        print("\n| one epoch of | RSS before MiB | peak MiB | peak - before MiB |")
        print("|---|---|---|---|")
        for kind, m in memory.items():
            print(
                f"| {kind} | {m['before_mib']:.1f} | {m['peak_mib']:.1f} | "
                f"{m['peak_mib'] - m['before_mib']:.1f} |"
            )


if __name__ == "__main__":
    main()

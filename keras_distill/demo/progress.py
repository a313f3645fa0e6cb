"""What the demo prints while it runs: a progress bar per stage, a line per stage."""

import sys
import time

from keras_distill._compat import keras

STAGES = ("data", "teacher", "baseline", "distil", "compress", "export", "report")
PROGRESS_KEYS = (
    "loss",
    "student_loss",
    "distillation_loss",
    "sparse_categorical_accuracy",
    "val_sparse_categorical_accuracy",
)


class EpochProgress(keras.callbacks.Callback):
    """One Keras progress bar over a stage's epochs, with the latest metrics.

    Keras' own bar (`verbose=1`) draws one bar per epoch: hundreds of lines for
    the demo's long schedules. This draws one bar whose unit is the epoch. When
    the output is not a terminal (a log file, CI), a bar cannot redraw itself,
    so it prints a plain line at most every `log_seconds` and at the end.

    Args:
        epochs: int, the stage's epochs.
        keys: sequence of str, the log keys to show. Defaults to None
            (`PROGRESS_KEYS`).
        log_seconds: float, the least time between two lines when the output
            is not a terminal. Defaults to 10.

    Example:
    ```python
    model.fit(data.train, epochs=50, verbose=0, callbacks=[EpochProgress(50)])
    ```
    """

    def __init__(self, epochs: int, keys=None, log_seconds: float = 10.0):
        super().__init__()
        self.epochs = epochs
        self.keys = PROGRESS_KEYS if keys is None else tuple(keys)
        self.log_seconds = log_seconds
        self.bar = None
        self._last_line = 0.0

    def on_train_begin(self, logs=None):
        self.bar = None
        if sys.stdout.isatty():
            self.bar = keras.utils.Progbar(self.epochs, unit_name="epoch")
        self._last_line = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        values = [
            (key.replace("sparse_categorical_", ""), float(value))
            for key, value in (logs or {}).items()
            if key in self.keys
        ]
        last = epoch + 1 >= self.epochs
        if self.bar is not None:
            self.bar.update(epoch + 1, values=values, finalize=last)
            return
        now = time.perf_counter()
        if last or now - self._last_line >= self.log_seconds:
            self._last_line = now
            metrics = " - ".join(f"{key}: {value:.4f}" for key, value in values)
            print(f"  epoch {epoch + 1}/{self.epochs} - {metrics}", flush=True)


class FitTimer(keras.callbacks.Callback):
    """The seconds a `fit` spent training: start to end, less its validation.

    Validation runs inside the epochs (`on_test_begin` to `on_test_end`) and
    is left out, so `examples * epochs / seconds` is the training speed. The
    first steps' tracing and any wait for the input pipeline are in.

    Example:
    ```python
    timer = FitTimer()
    model.fit(data.train, epochs=5, callbacks=[timer])
    examples_per_second = data.num_examples["train"] * 5 / timer.seconds
    ```
    """

    def __init__(self):
        super().__init__()
        self.seconds = None
        self._start = self._test_start = None
        self._validation = 0.0

    def on_train_begin(self, logs=None):
        self.seconds = None
        self._validation = 0.0
        self._start = time.perf_counter()

    def on_test_begin(self, logs=None):
        self._test_start = time.perf_counter()

    def on_test_end(self, logs=None):
        if self._test_start is not None:
            self._validation += time.perf_counter() - self._test_start
            self._test_start = None

    def on_train_end(self, logs=None):
        self.seconds = time.perf_counter() - self._start - self._validation


class StageClock:
    """Times the demo's stages and prints `[i/7] stage: what happened (s)`.

    Example:
    ```python
    clock = StageClock()
    data = load_data("mnist1d")
    clock.done("data", "mnist1d loaded")  # prints "[1/7] data: mnist1d loaded (0.4 s)"
    ```
    """

    def __init__(self):
        self.seconds = {}
        self.start = time.perf_counter()
        self._stage_start = self.start

    def done(self, stage: str, text: str) -> None:
        """Records `stage`'s time since the previous stage and prints its line."""
        now = time.perf_counter()
        elapsed = now - self._stage_start
        self.seconds[stage] = round(elapsed, 2)
        index = len(self.seconds)
        print(f"[{index}/{len(STAGES)}] {stage}: {text} ({elapsed:.1f} s)", flush=True)
        self._stage_start = now

    def total(self) -> float:
        """Seconds since the clock started."""
        return round(time.perf_counter() - self.start, 2)

"""Times dataset loading: MNIST-1D generation vs. its disk cache, and digits.

Run: `python benchmarks/data_loading.py`. It uses temporary cache directories, so
your real cache is untouched. Prints one line per measurement.
"""

import statistics
import tempfile
import time

from keras_distill.data import load_dataset
from keras_distill.data import mnist1d_arrays


def _median_seconds(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _one_epoch(dataset):
    for _ in dataset:
        pass


def main():
    with tempfile.TemporaryDirectory() as cold, tempfile.TemporaryDirectory() as warm:
        generate = _median_seconds(lambda: mnist1d_arrays(cache_dir=cold), 1)
        mnist1d_arrays(cache_dir=warm)
        cached = _median_seconds(lambda: mnist1d_arrays(cache_dir=warm), 5)
        print(f"mnist1d generate + write cache: {generate:.2f} s")
        print(f"mnist1d read from cache: {cached * 1000:.1f} ms (median of 5)")
        options = {"mnist1d": {"cache_dir": warm}, "digits": {}}
        for name, extra in options.items():

            def load(name=name, extra=extra):
                return load_dataset(name, batch_size=32, **extra)

            data = load()
            load_time = _median_seconds(load, 3)
            epoch_time = _median_seconds(lambda data=data: _one_epoch(data.train), 3)
            print(
                f"{name} load_dataset: {load_time * 1000:.0f} ms; one train epoch "
                f"({data.num_examples['train']} examples, batch 32): "
                f"{epoch_time * 1000:.0f} ms (medians of 3)"
            )


if __name__ == "__main__":
    main()

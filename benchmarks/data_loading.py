"""Times dataset loading and the input pipeline alone, without a model.

Run: `python benchmarks/data_loading.py` (everything) or
`python benchmarks/data_loading.py --images-only`. It uses temporary folders, so
your real cache is untouched. Prints one line per measurement:

- MNIST-1D generation vs. its disk cache, and one epoch of mnist1d and digits;
- an image folder made by `make_digits_image_folder` (default 10 x 300 coloured
  32x32 PNGs): `load_dataset` (listing, header checks, split), then
  `pipeline_throughput` of the training pipeline in images/s: the first pass
  (read + decode + resize, filling the in-memory cache), cached passes, and
  passes with `cache=False` (decoding every epoch).
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from keras_distill.data import load_dataset
from keras_distill.data import make_digits_image_folder
from keras_distill.data import mnist1d_arrays
from keras_distill.data import pipeline_throughput


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


def bench_vectors():
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


def bench_image_folder(n_per_class, image_size, batch_size, repeats):
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        folder = make_digits_image_folder(
            Path(tmp) / "digits_rgb", n_per_class=n_per_class, image_size=image_size
        )
        made = time.perf_counter() - start
        print(
            f"image folder: make_digits_image_folder {10 * n_per_class} "
            f"{image_size}x{image_size} PNGs: {made:.2f} s"
        )

        def load(cache=True):
            return load_dataset(
                str(folder), batch_size=batch_size, image_size=image_size, cache=cache
            )

        data = load()  # the first call also pays TensorFlow's start-up
        load_time = _median_seconds(load, repeats)
        n_train = data.num_examples["train"]
        print(
            f"image folder load_dataset (list, check headers, split): "
            f"{load_time * 1000:.0f} ms (median of {repeats}); {n_train} train "
            f"images, batch {batch_size}"
        )
        # Whole passes: the shuffle buffer holds the whole split, so the first
        # batch already waits for every image to be read.
        first = pipeline_throughput(data.train)
        cached = statistics.median(
            pipeline_throughput(data.train) for _ in range(repeats)
        )
        uncached_data = load(cache=False)
        uncached = statistics.median(
            pipeline_throughput(uncached_data.train) for _ in range(repeats)
        )
        print(
            "image folder train pipeline, first pass (decode + cache): "
            f"{first:,.0f} images/s"
        )
        print(
            f"image folder train pipeline, cached: {cached:,.0f} images/s "
            f"(median of {repeats} passes)"
        )
        print(
            f"image folder train pipeline, cache=False (decode every pass): "
            f"{uncached:,.0f} images/s (median of {repeats} passes)"
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images-only", action="store_true")
    parser.add_argument("--n-per-class", type=int, default=300)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if not args.images_only:
        bench_vectors()
    bench_image_folder(args.n_per_class, args.image_size, args.batch_size, args.repeats)


if __name__ == "__main__":
    main()

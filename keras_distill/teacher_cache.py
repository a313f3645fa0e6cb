"""Offline distillation: compute the teacher's logits once, train the student on them.

When the training inputs are not augmented, the teacher sees the same examples
every epoch and its logits never change, so running it again each epoch is waste.
`cache_teacher_outputs` runs the teacher once and returns a `tf.data.Dataset` of
`(x, y, teacher_logits)` batches; a `Distiller(student=..., cached_teacher=True)`
trains on it without any teacher model:

    train = cache_teacher_outputs(teacher, x_train, y_train, batch_size=64)
    distiller = Distiller(student=student, cached_teacher=True)
    distiller.compile(optimizer="adam", loss=...)
    distiller.fit(train, epochs=10)

Each epoch then costs one student training pass: the teacher's forward pass is
paid once, not once per epoch.
"""

import hashlib
import json
import os

import numpy as np
import tensorflow as tf

from keras_distill import _atomic
from keras_distill import _compat
from keras_distill._numbers import check_int

_FORMAT = 1


def cache_teacher_outputs(
    teacher,
    x,
    y=None,
    *,
    batch_size: int = 32,
    top_k: int | None = None,
    path: str | None = None,
    shuffle: bool = True,
    seed: int | None = None,
) -> tf.data.Dataset:
    """Runs `teacher` once over `x` and returns batches of `(x, y, teacher_logits)`.

    Use it for offline distillation when the inputs are not augmented: train a
    `Distiller(student=student, cached_teacher=True)` on the returned dataset and
    each epoch costs what training the student alone costs. Do not use it with
    augmented inputs (random crops, Mixup, noise): cached logits describe the
    original inputs only, and the `Distiller` refuses `cached_teacher=True`
    together with `augmentation=`.

    With `top_k`, only the k largest logits of each example are kept (plus one
    number for the rest), which saves memory and disk for many classes. The
    dataset restores full logits: the k kept ones, and the others all equal to the
    log of their mean `exp(logit)`. At temperature 1 the softmax of the restored
    logits gives the teacher's exact top-k probabilities and the exact remaining
    mass (spread evenly over the other classes); at other temperatures it is an
    approximation. `top_k=None` keeps all logits and is exact.

    With `path`, the logits are saved to that `.npz` file (written atomically) and
    loaded instead of recomputed on the next call, across processes. The file
    records a fingerprint of `x`, of the teacher's weights and of `top_k`; a file
    made for other inputs or another teacher raises instead of being reused.

    Args:
        teacher: `keras.Model` that outputs logits, `(batch, classes)`; run with
            `training=False`.
        x: NumPy array (or anything `np.asarray` accepts) of inputs, or a finite
            `tf.data.Dataset` of `(x, y)` batches, which is read once into memory.
        y: array of labels, one per example, when `x` is an array. Defaults to
            None (required unless `x` is a dataset).
        batch_size: int > 0, the batch size of the teacher pass and of the
            returned dataset. Defaults to 32.
        top_k: int in [1, classes] or None, how many logits per example to keep.
            Defaults to None (all).
        path: str or None, `.npz` file to save the logits to and load them from.
            Defaults to None (memory only).
        shuffle: bool, reshuffle the examples every epoch. Defaults to True.
        seed: int or None, the shuffle's seed. Defaults to None.

    Returns:
        A `tf.data.Dataset` of `(x, y, teacher_logits)` batches, float32 logits of
        shape `(batch, classes)`.

    Raises:
        TypeError: if `teacher` is not a Keras model (or is a list of them), or
            `batch_size` or `top_k` is not an int.
        ValueError: for a `batch_size` or `top_k` below 1, missing or mismatched
            labels, teacher outputs that are not `(batch, classes)` logits, or a
            file at `path` made for other inputs, another teacher or `top_k`.

    Example:
    ```python
    train = keras_distill.cache_teacher_outputs(teacher, x_train, y_train,
                                                batch_size=64, seed=0)
    val = keras_distill.cache_teacher_outputs(teacher, x_val, y_val,
                                              batch_size=64, shuffle=False)
    distiller = keras_distill.Distiller(student=student, cached_teacher=True)
    distiller.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["sparse_categorical_accuracy"],
    )
    distiller.fit(train, epochs=10, validation_data=val)
    ```
    """
    if isinstance(teacher, (list, tuple)):
        raise TypeError(
            "`teacher` is a list: cache_teacher_outputs caches one teacher. Their "
            "combination depends on the temperature, so for several teachers use "
            "a live Distiller(teacher=[...])."
        )
    _compat.check_model(teacher, "teacher")
    batch_size = check_int("batch_size", batch_size, 1)
    if top_k is not None:
        top_k = check_int("top_k", top_k, 1, hint="Or None to keep all logits.")
    if path is not None and not str(path).endswith(".npz"):
        raise ValueError(
            f"`path` must name a .npz file, got {path!r}. For example "
            "path='cache/teacher_logits.npz'."
        )
    x, y = _as_arrays(x, y)
    fingerprint = _fingerprint(teacher, x, top_k)
    stored = _load(path, fingerprint) if path is not None else None
    if stored is None:
        logits = np.asarray(
            teacher.predict(x, batch_size=batch_size, verbose=0), np.float32
        )
        if logits.ndim != 2 or logits.shape[0] != len(x):
            raise ValueError(
                "cache_teacher_outputs needs a teacher that outputs logits of shape "
                f"(batch, classes); got outputs of shape {logits.shape} for "
                f"{len(x)} examples."
            )
        if top_k is not None and top_k > logits.shape[1]:
            raise ValueError(
                f"`top_k`={top_k} is more than the teacher's {logits.shape[1]} "
                "classes. Use top_k=None to keep all logits."
            )
        stored = (
            {"logits": logits}
            if top_k is None or top_k == logits.shape[1]
            else _top_k(logits, top_k)
        )
        if path is not None:
            _save(path, stored, fingerprint)
    return _dataset(x, y, stored, batch_size, shuffle, seed)


def _as_arrays(x, y):
    if isinstance(x, tf.data.Dataset):
        if y is not None:
            raise ValueError(
                "`y` must be None when `x` is a tf.data.Dataset of (x, y) batches."
            )
        xs, ys = [], []
        for element in x.as_numpy_iterator():
            if not isinstance(element, tuple) or len(element) != 2:
                raise ValueError(
                    "`x` as a tf.data.Dataset must yield (x, y) batches; got an "
                    f"element of type {type(element).__name__}."
                )
            xs.append(np.asarray(element[0]))
            ys.append(np.asarray(element[1]))
        if not xs:
            raise ValueError("`x` is an empty dataset.")
        return np.concatenate(xs), np.concatenate(ys)
    x = np.asarray(x)
    if y is None:
        raise ValueError(
            "`y` is required: the Distiller's student loss needs labels. Pass "
            "cache_teacher_outputs(teacher, x, y)."
        )
    y = np.asarray(y)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(
            f"`x` and `y` must hold the same number (> 0) of examples; got "
            f"{len(x)} inputs and {len(y)} labels."
        )
    return x, y


def _fingerprint(teacher, x, top_k) -> str:
    """A digest of the inputs, the teacher's weights and top_k."""
    digest = hashlib.sha1()
    digest.update(json.dumps([_FORMAT, list(x.shape), str(x.dtype), top_k]).encode())
    digest.update(np.ascontiguousarray(x).tobytes())
    for weight in teacher.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()


def _top_k(logits, k):
    """The k largest logits, their classes, and log(mean exp(other logits))."""
    indices = np.argsort(-logits, axis=-1)[:, :k].astype(np.int32)
    values = np.take_along_axis(logits, indices, axis=-1)
    rest = logits.copy()
    np.put_along_axis(rest, indices, -np.inf, axis=-1)
    peak = values[:, :1]  # >= every other logit: exp stays <= 1
    mean_exp = np.exp(rest - peak).sum(axis=-1, keepdims=True) / (logits.shape[1] - k)
    tail = peak + np.log(np.maximum(mean_exp, np.finfo(np.float32).tiny))
    return {
        "values": values,
        "indices": indices,
        "tail": tail.astype(np.float32),
        "classes": np.asarray(logits.shape[1], np.int64),
    }


def _load(path, fingerprint):
    if not os.path.exists(path):
        return None
    with np.load(path) as data:
        found = str(data["fingerprint"]) if "fingerprint" in data else None
        if found != fingerprint:
            raise ValueError(
                f"The teacher-output cache {path!r} was made for other inputs, "
                "another teacher (or other weights) or another top_k. Delete it to "
                "recompute, or pass another `path`."
            )
        return {k: data[k] for k in data.files if k != "fingerprint"}


def _save(path, stored, fingerprint):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with _atomic.atomic_file(path) as temp, open(temp, "wb") as f:
        np.savez(f, fingerprint=np.asarray(fingerprint), **stored)


def _dataset(x, y, stored, batch_size, shuffle, seed):
    if "logits" in stored:
        data = tf.data.Dataset.from_tensor_slices((x, y, stored["logits"]))
    else:
        data = tf.data.Dataset.from_tensor_slices(
            (x, y, (stored["values"], stored["indices"], stored["tail"]))
        )
    if shuffle:
        data = data.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    data = data.batch(batch_size)
    if "logits" not in stored:
        classes = int(stored["classes"])
        data = data.map(
            lambda xb, yb, top: (xb, yb, dense_logits(*top, classes)),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return data.prefetch(tf.data.AUTOTUNE)


def dense_logits(values, indices, tail, classes: int):
    """Full logits from top-k `values` at `indices`, every other class at `tail`.

    Args:
        values: float tensor `(batch, k)`, the kept logits.
        indices: int tensor `(batch, k)`, their classes.
        tail: float tensor `(batch, 1)`, the value of every other class.
        classes: int, the number of classes.

    Returns:
        Float32 tensor `(batch, classes)`.
    """
    one_hot = tf.one_hot(indices, classes, dtype=tf.float32)  # (batch, k, classes)
    kept = tf.reduce_sum(one_hot * values[..., None], axis=1)
    mask = tf.reduce_sum(one_hot, axis=1)
    return kept + (1.0 - mask) * tf.cast(tail, tf.float32)


def check_cached_teacher(teacher, augmentation):
    """Raises unless a cached-teacher Distiller gets no teacher and no augmentation."""
    if teacher is not None:
        raise ValueError(
            "cached_teacher=True trains on teacher logits that come with the data, "
            f"so `teacher` must be None; got {type(teacher).__name__}. Build the "
            "data with keras_distill.cache_teacher_outputs(teacher, x, y), or pass "
            "the teacher with cached_teacher=False to run it live."
        )
    if augmentation is not None:
        raise ValueError(
            "cached_teacher=True cannot be combined with `augmentation`: the cached "
            "teacher logits describe the original inputs, not the augmented ones "
            "the student would see, so the student would learn wrong targets. Use "
            "a live teacher (cached_teacher=False) with augmentation, or drop the "
            "augmentation to cache."
        )


def cached_batch(data):
    """`(x, y, teacher_logits)` of a cached-teacher batch, with a clear error."""
    if not isinstance(data, (tuple, list)) or len(data) != 3:
        raise ValueError(
            "A Distiller with cached_teacher=True reads batches (x, y, "
            "teacher_logits), as keras_distill.cache_teacher_outputs(teacher, x, y) "
            f"returns; got {type(data).__name__} of "
            f"{len(data) if isinstance(data, (tuple, list)) else 1} element(s). "
            "Build the training and validation data with cache_teacher_outputs."
        )
    x, y, logits = data
    return x, y, {None: tf.stop_gradient(tf.cast(logits, tf.float32))}

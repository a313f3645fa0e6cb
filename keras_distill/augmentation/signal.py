"""Augmentation for 1-D signals (MNIST-1D): random shifts in time, then noise."""

from keras_distill._compat import keras
from keras_distill.augmentation.audio import TimeShift


def signal_augmentation(max_shift: float = 0.1, noise: float = 0.1) -> list:
    """The steps the demo's teacher trains with on a 1-D signal.

    A `TimeShift` (each example moved by up to `max_shift` of its length,
    filled with zeros), then `keras.layers.GaussianNoise`. MNIST-1D's own
    generator shifts, scales and adds noise to its ten templates (Greydanus
    2020, arXiv:2011.14439), so a model that has seen more shifts and noise
    generalises better. Measured on MNIST-1D (4,000 training signals, the
    demo's CNN teacher preset, 150 epochs, seed 0): 93.0 % without these
    steps, 98.0 % with the defaults (docs/sequences.md).

    Args:
        max_shift: float in [0, 1), the largest shift as a share of the
            signal's length. Defaults to 0.1.
        noise: float >= 0, the standard deviation of the Gaussian noise, in
            the signal's raw units (MNIST-1D's values have a standard
            deviation of about 1). Defaults to 0.1.

    Returns:
        A list of two Keras layers, active only with `training=True`.

    Raises:
        TypeError: if `noise` is not a number.
        ValueError: if `noise` is negative; `max_shift` as for `TimeShift`.

    Example:
    ```python
    steps = keras_distill.augmentation.signal_augmentation()
    x = np.random.default_rng(0).normal(size=(8, 40)).astype("float32")
    for step in steps:
        x = step(x, training=True)
    ```
    """
    if isinstance(noise, bool) or not isinstance(noise, (int, float)):
        raise TypeError(f"signal_augmentation: noise must be a number, got {noise!r}.")
    if noise < 0:
        raise ValueError(
            f"signal_augmentation: noise={noise} is negative; pass the standard "
            "deviation of the noise, e.g. 0.1, or 0 for none."
        )
    return [
        TimeShift(max_shift, name="signal_shift"),
        keras.layers.GaussianNoise(float(noise), name="signal_noise"),
    ]

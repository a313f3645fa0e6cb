"""Augmentations the Distiller applies to training batches, for teacher and student."""

from keras_distill.augmentation.mixup import Mixup

__all__ = ["Mixup"]

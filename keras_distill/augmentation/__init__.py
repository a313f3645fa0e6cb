"""Augmentations the Distiller applies to training batches, for teacher and student."""

from keras_distill.augmentation.cutmix import CutMix
from keras_distill.augmentation.image_augmentation import image_augmentation
from keras_distill.augmentation.mixup import Mixup
from keras_distill.augmentation.random_resized_crop import RandomResizedCrop

__all__ = ["CutMix", "Mixup", "RandomResizedCrop", "image_augmentation"]

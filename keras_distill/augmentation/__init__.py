"""Augmentations the Distiller applies to training batches, for teacher and student.

Images: `image_augmentation` and its layers; waveforms: `speech_augmentation`
and its layers; 1-D signals: `signal_augmentation`; token ids:
`TokenMasking`; any input: `Mixup`.
"""

from keras_distill.augmentation.audio import BackgroundNoise
from keras_distill.augmentation.audio import SpecAugmentMasks
from keras_distill.augmentation.audio import TimeShift
from keras_distill.augmentation.audio import speech_augmentation
from keras_distill.augmentation.cutmix import CutMix
from keras_distill.augmentation.image_augmentation import image_augmentation
from keras_distill.augmentation.mixup import Mixup
from keras_distill.augmentation.random_resized_crop import RandomResizedCrop
from keras_distill.augmentation.signal import signal_augmentation
from keras_distill.augmentation.text import TokenMasking

__all__ = [
    "BackgroundNoise",
    "CutMix",
    "Mixup",
    "RandomResizedCrop",
    "SpecAugmentMasks",
    "TimeShift",
    "TokenMasking",
    "image_augmentation",
    "signal_augmentation",
    "speech_augmentation",
]

"""A ready image augmentation recipe for consistent teaching."""

from keras_distill._compat import keras
from keras_distill._numbers import check_real
from keras_distill.augmentation.cutmix import CutMix
from keras_distill.augmentation.mixup import Mixup
from keras_distill.augmentation.random_resized_crop import RandomResizedCrop


def image_augmentation(
    crop: "float | None" = 0.25,
    flip: bool = False,
    rotation: float = 10.0,
    mixup: "float | None" = None,
    cutmix: "float | None" = None,
) -> list:
    """The image augmentations of function matching, as a list for the Distiller.

    Beyer et al. ("Knowledge distillation: A good teacher is patient and
    consistent", CVPR 2022) distil best when teacher and student see the same
    aggressively augmented image: random resized crops, flips and Mixup or
    CutMix, over many epochs. Pass the list as `Distiller(augmentation=...)`: the
    Distiller applies its steps in order to each training batch (never in
    `evaluate`) and runs teacher and student on the result. The geometric steps
    come first, the mixing last. Images are the raw pixels the models read
    (0..255); the models' own normalization layer scales them afterwards.

    Args:
        crop: float in (0, 1] or None, the smallest share of the image area a
            `RandomResizedCrop` keeps; None for no crop. Defaults to 0.25.
        flip: bool, random horizontal flips (`keras.layers.RandomFlip`). Turn it
            on for photos; leave it off for digits, letters and anything whose
            mirror image is another class. Defaults to False.
        rotation: float >= 0, the largest rotation in degrees either way
            (`keras.layers.RandomRotation`, reflected borders); 0 for none.
            Defaults to 10.0.
        mixup: float > 0 or None, Mixup's Beta concentration (1.0 is the strong
            mixing of function matching); None for no Mixup. Defaults to None.
        cutmix: float > 0 or None, CutMix's Beta concentration; None for no
            CutMix. Defaults to None.

    Returns:
        A non-empty list of augmentation steps: Keras layers, then at most one
        `Mixup` or `CutMix`.

    Raises:
        ValueError: for values out of range, both `mixup` and `cutmix` (the
            Distiller mixes the labels of one mixing per batch), or everything
            off (pass `augmentation=None` to the Distiller instead).
        TypeError: for a non-numeric value or a non-bool `flip`.

    Example:
    ```python
    distiller = keras_distill.Distiller(
        student=student, teacher=teacher, alpha=0.0,
        augmentation=image_augmentation(crop=0.25, flip=True, cutmix=1.0))
    distiller.compile(optimizer="adam", loss=loss)
    distiller.fit(images, labels, epochs=2, batch_size=32)
    ```
    """
    if mixup is not None and cutmix is not None:
        raise ValueError(
            f"image_augmentation got mixup={mixup!r} and cutmix={cutmix!r}: the "
            "Distiller mixes the labels of one mixing per batch. Choose one."
        )
    if not isinstance(flip, bool):
        raise TypeError(f"`flip` must be True or False, got {flip!r}.")
    rotation = check_real(
        "rotation",
        rotation,
        low=0.0,
        high=180.0,
        hint="It is in degrees; small angles (5-15) keep digits and objects "
        "recognisable.",
    )
    steps = []
    if crop is not None:
        crop = check_real(
            "crop", crop, low=0.0, high=1.0, low_inclusive=False, hint="Or None."
        )
        steps.append(RandomResizedCrop(scale=(crop, 1.0), name="random_resized_crop"))
    if flip:
        steps.append(keras.layers.RandomFlip("horizontal", name="random_flip"))
    if rotation > 0:
        steps.append(
            keras.layers.RandomRotation(
                rotation / 360.0, fill_mode="reflect", name="random_rotation"
            )
        )
    if mixup is not None:
        steps.append(Mixup(mixup))
    if cutmix is not None:
        steps.append(CutMix(cutmix))
    if not steps:
        raise ValueError(
            "image_augmentation with crop=None, flip=False, rotation=0 and no "
            "mixing augments nothing: pass augmentation=None to the Distiller."
        )
    return steps

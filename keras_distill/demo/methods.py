"""The distillation methods `keras-distill demo --method` offers.

A method is a recipe: which distillation loss, temperature, alpha, whether the
teacher and student see the same Mixup-augmented batches ("consistent teaching",
Beyer et al., CVPR 2022), and how long to train. The table is plain data (no
TensorFlow), so the CLI lists it in `--help` before choosing the Keras flavour.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class DemoMethod:
    """A distillation recipe of the demo.

    Args:
        name: str, what `--method` takes.
        description: str, one line for `--help`.
        loss: str, a registered distillation loss (`keras_distill.losses.get`).
        temperature: float, the softmax temperature T.
        alpha: float in [0, 1], the weight of the label loss.
        mixup_alpha: float or None, the Beta concentration of the Mixup shared by
            teacher and student; None for no augmentation.
        epochs: int, the full schedule's epochs (the label-only baseline gets
            the same).
        learning_rate: float, Adam's peak learning rate (cosine decay to 0).
        image_augmentation: dict or None, for image data only: the arguments of
            `keras_distill.augmentation.image_augmentation` (crop, flip,
            rotation) whose steps come before the Mixup. The preset teacher
            trains with the same geometric steps, so it knows the images it is
            asked about. Defaults to None (no geometric augmentation).
        compress_epochs: int, epochs of pruning, and again of quantization-aware
            training, in the demo's compression stage. Defaults to 20.
    """

    name: str
    description: str
    loss: str
    temperature: float
    alpha: float
    mixup_alpha: float | None
    epochs: int
    learning_rate: float
    image_augmentation: dict | None = None
    compress_epochs: int = 20

    def make_augmentation(self, images: bool = False):
        """The augmentation teacher and student share, or None without one.

        Args:
            images: bool, whether the examples are images; only then do the
                `image_augmentation` steps come before the Mixup. Defaults to
                False.

        Returns:
            A list of augmentation steps, a `Mixup`, or None.
        """
        steps = self.teacher_augmentation(images)
        if self.mixup_alpha is None:
            return steps
        from keras_distill.augmentation import Mixup

        mixup = Mixup(alpha=self.mixup_alpha)
        return mixup if steps is None else [*steps, mixup]

    def teacher_augmentation(self, images: bool):
        """The geometric steps the preset teacher trains with, or None.

        The teacher learns on labels, so it gets no Mixup; it gets the crops
        and rotations its students will show it.
        """
        if not images or self.image_augmentation is None:
            return None
        from keras_distill.augmentation import image_augmentation

        return image_augmentation(**self.image_augmentation)


METHODS = {
    method.name: method
    for method in (
        DemoMethod(
            name="kd",
            description="Hinton et al.'s softened KL divergence on the training "
            "batches.",
            loss="kl",
            temperature=4.0,
            alpha=0.1,
            mixup_alpha=None,
            epochs=100,
            learning_rate=1e-3,
        ),
        DemoMethod(
            name="dkd",
            description="Decoupled KD (Zhao et al., CVPR 2022): target-class and "
            "non-target-class KL weighted 1 and 8.",
            loss="dkd",
            temperature=4.0,
            alpha=0.1,
            mixup_alpha=None,
            epochs=100,
            learning_rate=1e-3,
        ),
        DemoMethod(
            name="dist",
            description="DIST (Huang et al., NeurIPS 2022): Pearson correlation "
            "between the models' predictions, across classes and across the batch.",
            loss="dist",
            temperature=4.0,
            alpha=0.1,
            mixup_alpha=None,
            epochs=100,
            learning_rate=1e-3,
        ),
        DemoMethod(
            name="mixup-kd",
            description="Consistent teaching: teacher and student see the same "
            "Mixup batches, KL divergence, long schedule.",
            loss="kl",
            # The methods benchmark's best recipe on MNIST-1D (function
            # matching: alpha=0, T=2, Mixup(1.0), batch 128, Adam from 1e-2 on
            # a cosine schedule): 86.3 +/- 0.5 % at 500 epochs, 80.2 % at 200
            # (docs/choosing_a_method.md).
            temperature=2.0,
            alpha=0.0,
            mixup_alpha=1.0,
            epochs=500,
            learning_rate=1e-2,
        ),
        DemoMethod(
            name="augmented-kd",
            description="Consistent teaching for images (Beyer et al., CVPR "
            "2022): teacher and student see the same randomly cropped and "
            "rotated batch, KL divergence; the teacher trains on the same crops "
            "and rotations.",
            loss="kl",
            # benchmarks/images.py, the minimalistic MobileNetV3-Small on 32x32
            # colour digits, 30 epochs, 3 seeds: 93.6 % against 79.1 % on
            # labels and 91.6 % on labels with the same crops and rotations
            # (docs/images.md). With Mixup(1.0) added (MobileNetV2 0.35),
            # 72.3 and 80.5 % against 82.0 and 86.2 % without (seeds 0, 1):
            # Mixup pays off over hundreds of epochs, not 30.
            temperature=2.0,
            alpha=0.0,
            mixup_alpha=None,
            epochs=30,
            learning_rate=3e-3,
            image_augmentation={"crop": 0.5, "rotation": 10.0},
            # The minimalistic MobileNetV3 student, 3 seeds: 5 epochs of
            # pruning (sparsity rising over 3) and 5 of QAT left the int8 file
            # 3.1 points below the float student; 10 of each, 0.3 above (the
            # extra distillation pays for the zeros). QAT alone, without
            # pruning, lost nothing (one run).
            compress_epochs=10,
        ),
    )
}
BEST_METHOD = "mixup-kd"
BEST_IMAGE_METHOD = "augmented-kd"


def get_method(name: str | None, images: bool = False) -> DemoMethod:
    """The method called `name`; None gives the package's best method.

    Args:
        name: str or None, a name of `METHODS`.
        images: bool, whether the examples are images: with `name=None`, the
            best method for images (`BEST_IMAGE_METHOD`). Defaults to False.

    Raises:
        ValueError: an unknown name (the message lists the choices).
    """
    if name is None:
        name = BEST_IMAGE_METHOD if images else BEST_METHOD
    if name not in METHODS:
        raise ValueError(
            f"unknown method {name!r}; choices: {', '.join(METHODS)} (default "
            f"{BEST_METHOD})"
        )
    return METHODS[name]


def methods_help() -> str:
    """The methods as `name: description.` sentences, for `--help`."""
    defaults = {BEST_METHOD: " (default)", BEST_IMAGE_METHOD: " (default for images)"}
    return " ".join(
        f"{m.name}{defaults.get(m.name, '')}: {m.description.rstrip('.')}."
        for m in METHODS.values()
    )

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
    """

    name: str
    description: str
    loss: str
    temperature: float
    alpha: float
    mixup_alpha: float | None
    epochs: int
    learning_rate: float

    def make_augmentation(self):
        """The `Mixup` shared by teacher and student, or None without one."""
        if self.mixup_alpha is None:
            return None
        from keras_distill.augmentation import Mixup

        return Mixup(alpha=self.mixup_alpha)


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
    )
}
BEST_METHOD = "mixup-kd"


def get_method(name: str | None) -> DemoMethod:
    """The method called `name`; None gives the package's best method.

    Raises:
        ValueError: an unknown name (the message lists the choices).
    """
    if name is None:
        name = BEST_METHOD
    if name not in METHODS:
        raise ValueError(
            f"unknown method {name!r}; choices: {', '.join(METHODS)} (default "
            f"{BEST_METHOD})"
        )
    return METHODS[name]


def methods_help() -> str:
    """The methods as `name: description.` sentences, for `--help`."""
    return " ".join(
        f"{m.name}{' (default)' if m.name == BEST_METHOD else ''}: "
        f"{m.description.rstrip('.')}."
        for m in METHODS.values()
    )

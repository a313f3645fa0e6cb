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
        speech_augmentation: dict or None, for audio only: the arguments of
            `keras_distill.augmentation.speech_augmentation` (time shift,
            background noise, SpecAugment masks on the waveform) whose steps come
            before the Mixup; the preset teacher trains with them too. Defaults
            to None.
        signal_augmentation: dict or None, for 1-D signals
            (`DataBundle.signal`) only: the arguments of
            `keras_distill.augmentation.signal_augmentation` (time shift,
            noise) the distilled student sees too. Every method's preset
            teacher trains with those steps on a signal (default arguments
            when None); None keeps them away from the student. Defaults to
            None.
        distil_on_augmented: bool, whether the distilled student sees the
            image or speech augmentation too (consistent teaching) or only
            the teacher trains with it. Defaults to True.
        modalities: tuple of str, the kinds of data (`DataBundle.modality`) the
            method fits. Defaults to all four; a method with Mixup leaves text
            out, as blending token ids means nothing.
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
    speech_augmentation: dict | None = None
    signal_augmentation: dict | None = None
    distil_on_augmented: bool = True
    modalities: tuple[str, ...] = ("vector", "image", "audio", "text")

    def make_augmentation(self, modality: str = "vector", signal: bool = False):
        """The augmentation teacher and student share, or None without one.

        Args:
            modality: str, the data's `DataBundle.modality`: for `"image"` the
                `image_augmentation` steps, for `"audio"` the
                `speech_augmentation` steps come before the Mixup. Defaults to
                "vector".
            signal: bool, the data's `DataBundle.signal`: the
                `signal_augmentation` steps, when the method has them, come
                before the Mixup. Defaults to False.

        Returns:
            A list of augmentation steps, a `Mixup`, or None.
        """
        steps = self.teacher_augmentation(modality, signal)
        if not self.distil_on_augmented or (
            modality == "vector" and self.signal_augmentation is None
        ):
            steps = None
        if self.mixup_alpha is None:
            return steps
        from keras_distill.augmentation import Mixup

        mixup = Mixup(alpha=self.mixup_alpha)
        return mixup if steps is None else [*steps, mixup]

    def teacher_augmentation(self, modality: str, signal: bool = False):
        """The steps the preset teacher trains with, or None.

        The teacher learns on labels, so it gets no Mixup; it gets the crops
        and rotations (images) or shifts, noise and masks (audio) its students
        will show it. On a 1-D signal (`DataBundle.signal`: MNIST-1D), every
        method's teacher trains with random shifts and noise
        (`signal_augmentation`): the CNN teacher went from 93.0 to 98.0 % on
        MNIST-1D, above the GRU student on labels (96.8 %), so distillation
        has something to teach. The student distils on them only with a
        method that has `signal_augmentation` (`signal-kd`).

        Args:
            modality: str, the data's `DataBundle.modality`.
            signal: bool, the data's `DataBundle.signal`. Defaults to False.
        """
        if modality == "vector" and signal:
            from keras_distill.augmentation import signal_augmentation

            return signal_augmentation(**(self.signal_augmentation or {}))
        if modality == "image" and self.image_augmentation is not None:
            from keras_distill.augmentation import image_augmentation

            return image_augmentation(**self.image_augmentation)
        if modality == "audio" and self.speech_augmentation is not None:
            from keras_distill.augmentation import speech_augmentation

            return speech_augmentation(**self.speech_augmentation)
        return None


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
            modalities=("vector", "image", "audio"),
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
        DemoMethod(
            name="signal-kd",
            description="1-D signals (MNIST-1D): teacher and student see the "
            "same time-shifted, noisy signals the teacher trained on, KL "
            "divergence, no Mixup (short schedules; GRU, LSTM, Transformer).",
            loss="kl",
            # benchmarks/sequences.py, 3 seeds, 40 epochs at 1e-2, teacher
            # 97.7 % (labels / labels with the same shifts and noise / this):
            # GRU 96.8 / 97.3 / 97.0, LSTM 95.5 / 95.1 / 95.3, Transformer
            # 82.7 / 87.2 / 87.3, MLP 64.7 / 75.4 / 74.1: the augmentation
            # does the work; the teacher adds nothing beyond it here
            # (docs/sequences.md).
            temperature=2.0,
            alpha=0.0,
            mixup_alpha=None,
            epochs=40,
            learning_rate=1e-2,
            signal_augmentation={},
            compress_epochs=10,
            modalities=("vector",),
        ),
        DemoMethod(
            name="speech-kd",
            description="Keyword spotting: the teacher trains on time-shifted, "
            "noisy, SpecAugment-masked clips; the student is distilled on the "
            "clips as they are, KL divergence.",
            loss="kl",
            # The demo on 1,280 espeak-ng clips (26 unseen speakers), DS-CNN
            # student, teacher trained with this augmentation, seed 0, one
            # run each: distilled on the clips as they are 98.8 %; on time
            # shift + noise 95.4 %; on the whole augmentation (consistent
            # teaching) 75.8 %, still underfitting after 30 epochs. Labels
            # alone: 97.7 and 98.8 % in two demo runs, so distillation does
            # not beat labels on these voices (docs/speech_and_text.md).
            temperature=2.0,
            alpha=0.0,
            mixup_alpha=None,
            epochs=30,
            learning_rate=3e-3,
            speech_augmentation={},
            distil_on_augmented=False,
            compress_epochs=10,
            modalities=("audio",),
        ),
        DemoMethod(
            name="text-kd",
            description="Hinton et al.'s softened KL divergence for text "
            "classification, with the label loss (token ids cannot be mixed or "
            "cropped).",
            loss="kl",
            temperature=4.0,
            alpha=0.5,
            mixup_alpha=None,
            epochs=30,
            learning_rate=3e-3,
            compress_epochs=10,
            modalities=("text",),
        ),
    )
}
BEST_METHOD = "mixup-kd"
# Without `--method`, the method for each kind of data (vectors: BEST_METHOD).
DEFAULT_METHODS = {
    "vector": BEST_METHOD,
    "image": "augmented-kd",
    "audio": "speech-kd",
    "text": "text-kd",
}
BEST_IMAGE_METHOD = DEFAULT_METHODS["image"]
_DEFAULT_FOR = {
    "image": " (default for images)",
    "audio": " (default for .wav folders)",
    "text": " (default for .txt folders)",
}


def get_method(name: str | None, modality: str = "vector") -> DemoMethod:
    """The method called `name`; None gives the default for `modality`.

    Args:
        name: str or None, a name of `METHODS`.
        modality: str, the data's `DataBundle.modality` ("vector", "image",
            "audio" or "text"): with `name=None`, its method in
            `DEFAULT_METHODS`. Defaults to "vector".

    Raises:
        ValueError: an unknown name (the message lists the choices), or a
            method that does not fit `modality` (Mixup on token ids).
    """
    if name is None:
        name = DEFAULT_METHODS[modality]
    if name not in METHODS:
        raise ValueError(
            f"unknown method {name!r}; choices: {', '.join(METHODS)} (default "
            f"{BEST_METHOD})"
        )
    method = METHODS[name]
    if modality not in method.modalities:
        fits = [m.name for m in METHODS.values() if modality in m.modalities]
        raise ValueError(
            f"method {name!r} does not fit {modality} data (it is for "
            f"{', '.join(method.modalities)}); choose one of {', '.join(fits)} "
            f"(default {DEFAULT_METHODS[modality]})"
        )
    return method


def methods_help() -> str:
    """The methods as `name: description.` sentences, for `--help`."""
    defaults = {BEST_METHOD: " (default)"}
    for modality, name in DEFAULT_METHODS.items():
        if name != BEST_METHOD:
            defaults[name] = _DEFAULT_FOR[modality]
    return " ".join(
        f"{m.name}{defaults.get(m.name, '')}: {m.description.rstrip('.')}."
        for m in METHODS.values()
    )

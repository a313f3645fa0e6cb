"""Image presets and consistent augmentation on scikit-learn digits at 32x32x3.

Trains the ResNet-style teacher preset on labels, then distils it into the
`mobilenet_v2` student preset (alpha 0.35, random initialization) without
augmentation and with `keras_distill.augmentation.image_augmentation`, teacher
and student seeing the same augmented batch. The 8x8 digits are upscaled 4x
(nearest neighbour) to 32x32, tiled to 3 channels and scaled to pixels 0..255;
a stratified seeded split gives the training images, the rest are the test set.

    python3 benchmarks/image_augmentation.py                    # the docs' run
    python3 benchmarks/image_augmentation.py --train 64 --teacher-epochs 1 \
        --student-epochs 1                                      # a quick check

Prints a Markdown table of test accuracy and training time (wall clock: on a
shared CPU the times vary with the load), and how often the teacher, trained on
clean images, still recognises the augmented training images.
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras_distill  # noqa: E402
from keras_distill import keras  # noqa: E402
from keras_distill.augmentation import Mixup  # noqa: E402
from keras_distill.augmentation import image_augmentation  # noqa: E402
from keras_distill.data import InputNormalization  # noqa: E402
from keras_distill.data.pipeline import bundle_from_arrays  # noqa: E402
from keras_distill.demo import presets  # noqa: E402

RECIPES = {
    "none": None,
    "crop+rotate": dict(crop=0.25, rotation=10.0),
    "crop+rotate+cutmix": dict(crop=0.25, rotation=10.0, cutmix=1.0),
}


def digits_32x32x3(train: int, seed: int):
    digits = load_digits()
    x = np.kron(digits.images, np.ones((4, 4)))[..., None].repeat(3, axis=-1)
    x = (x * (255.0 / 16.0)).astype("float32")
    return train_test_split(
        x, digits.target, train_size=train, stratify=digits.target, random_state=seed
    )


def sparse_ce():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def accuracy(model, data) -> float:
    x, y = data.arrays("test")
    return float((model.predict(x, verbose=0).argmax(-1) == y).mean())


def teacher_on_augmented(teacher, x, y, steps) -> float:
    x, labels = tf.constant(x), y
    for step in steps:
        if isinstance(step, Mixup):  # CutMix too
            x, partner, lam = step.mix(x)
            labels = np.where(lam.numpy() >= 0.5, y, y[partner.numpy()])
        else:
            x = step(x, training=True)
    return float((teacher.predict(x, verbose=0).argmax(-1) == labels).mean())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=600, help="training images")
    parser.add_argument("--teacher-epochs", type=int, default=5)
    parser.add_argument("--student-epochs", type=int, default=10)
    parser.add_argument("--alpha", type=float, default=0.35, help="student width")
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    x_train, x_test, y_train, y_test = digits_32x32x3(args.train, args.seed)
    data = bundle_from_arrays(
        "digits32",
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        class_names=tuple(str(c) for c in range(10)),
        normalization_for=lambda _: InputNormalization.rescale(1 / 255),
        batch_size=32,
        seed=args.seed,
        validation_fraction=0.0,
        description="digits upscaled to 32x32x3",
    )
    rows = []
    teacher = presets.teacher_preset(data)
    teacher.compile(optimizer=keras.optimizers.Adam(3e-3), loss=sparse_ce())
    start = time.perf_counter()
    teacher.fit(data.train, epochs=args.teacher_epochs, verbose=0)
    rows.append(
        (
            f"teacher (ResNet preset, {teacher.count_params():,} params)",
            "labels",
            args.teacher_epochs,
            accuracy(teacher, data),
            time.perf_counter() - start,
        )
    )
    # How recognisable the augmented images are to this teacher (trained on
    # clean images): one augmented pass over the training images, scored
    # against each image's label (its dominant label after CutMix).
    recognised = {}
    for recipe in args.recipes.split(","):
        if RECIPES[recipe] is not None:
            recognised[recipe] = teacher_on_augmented(
                teacher, x_train, y_train, image_augmentation(**RECIPES[recipe])
            )
    for recipe in args.recipes.split(","):
        keras.utils.set_random_seed(args.seed)
        student = presets.student_preset("mobilenet_v2", data, alpha=args.alpha)
        options = RECIPES[recipe]
        distiller = keras_distill.Distiller(
            student=student,
            teacher=teacher,
            temperature=3.0,
            alpha=0.1,
            augmentation=None if options is None else image_augmentation(**options),
        )
        distiller.compile(optimizer=keras.optimizers.Adam(3e-3), loss=sparse_ce())
        start = time.perf_counter()
        distiller.fit(data.train, epochs=args.student_epochs, verbose=0)
        print(f"  {recipe}: done in {time.perf_counter() - start:.0f} s", flush=True)
        rows.append(
            (
                f"mobilenet_v2 alpha {args.alpha} ({student.count_params():,} params)",
                recipe,
                args.student_epochs,
                accuracy(student, data),
                time.perf_counter() - start,
            )
        )
    print(
        f"\nDigits 32x32x3: {len(y_train)} training, {len(y_test)} test images, "
        f"seed {args.seed}, Keras {keras.__version__}\n"
    )
    print("| model | augmentation | epochs | test accuracy | train time (s) |")
    print("|---|---|---|---|---|")
    for model, recipe, epochs, acc, seconds in rows:
        print(f"| {model} | {recipe} | {epochs} | {acc:.3f} | {seconds:.0f} |")
    print("\n| augmentation | teacher accuracy on augmented training images |")
    print("|---|---|")
    for recipe, acc in recognised.items():
        print(f"| {recipe} | {acc:.3f} |")


if __name__ == "__main__":
    main()

"""Leak-free, seeded splits of audio clips: by speaker when names say who spoke.

Speech Commands (Warden, 2018, "Speech Commands: A Dataset for Limited-Vocabulary
Speech Recognition", arXiv:1804.03209) names each clip
`<speaker>_nohash_<n>.wav` and assigns a speaker's clips to one split by a hash
of the speaker id (its `which_set`), so that a test accuracy measures new
voices, not voices heard in training. `split_clips` does the same when every
clip follows that pattern, else splits by file, stratified per class.
"""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import PurePosixPath

SPEAKER_PATTERN = re.compile(r"^(?P<speaker>.+?)_nohash_\d+\.wav$", re.IGNORECASE)


def speaker_of(path: str) -> str | None:
    """The speaker id of `<speaker>_nohash_<n>.wav`, or None for other names."""
    match = SPEAKER_PATTERN.match(PurePosixPath(path).name)
    return match["speaker"] if match else None


def _round_half_up(value: float) -> int:
    return math.floor(value + 0.5)


def _hash_key(seed: int, text: str) -> str:
    # A stable hash (not Python's salted hash()): the same on every run and
    # machine, and an item keeps its place when others are added.
    return hashlib.sha256(f"{seed}:{text}".encode()).hexdigest()


def _too_few(what: str, n: int, test_fraction: float, validation_fraction: float):
    return ValueError(
        f"{n} {what} are too few to hold out test_fraction={test_fraction} and "
        f"validation_fraction={validation_fraction} and keep some for training; "
        "add clips or lower the fractions."
    )


def _by_speaker(clips, class_names, test_fraction, validation_fraction, seed):
    speakers = sorted({speaker_of(path) for path, _ in clips})
    speakers.sort(key=lambda speaker: _hash_key(seed, "speaker:" + speaker))
    n_test = max(1, _round_half_up(test_fraction * len(speakers)))
    n_val = 0
    if validation_fraction > 0:
        n_val = max(1, _round_half_up(validation_fraction * len(speakers)))
    if n_test + n_val >= len(speakers):
        raise _too_few(
            f"speakers ({speakers[:5]}{'...' if len(speakers) > 5 else ''})",
            len(speakers),
            test_fraction,
            validation_fraction,
        )
    split_of = dict.fromkeys(speakers[:n_test], "test")
    split_of.update(dict.fromkeys(speakers[n_test : n_test + n_val], "validation"))
    splits = {"train": [], "test": []}
    if n_val:
        splits["validation"] = []
    for path, label in clips:
        splits[split_of.get(speaker_of(path), "train")].append((path, label))
    trained = {label for _, label in splits["train"]}
    missing = [name for i, name in enumerate(class_names) if i not in trained]
    if missing:
        raise ValueError(
            f"Class(es) {missing} keep no training clip: all their speakers were "
            "held out for test or validation. Add clips of those words by more "
            "speakers, or lower test_fraction / validation_fraction."
        )
    return splits, len(speakers)


def _by_file(clips, class_names, test_fraction, validation_fraction, seed):
    splits = {"train": [], "test": []}
    if validation_fraction > 0:
        splits["validation"] = []
    for label, name in enumerate(class_names):
        ordered = sorted(
            (path for path, clip_label in clips if clip_label == label),
            key=lambda path: _hash_key(seed, path),
        )
        n_test = _round_half_up(test_fraction * len(ordered))
        n_val = _round_half_up(validation_fraction * len(ordered))
        if n_test + n_val >= len(ordered):
            raise _too_few(
                f"clips of class {name!r}",
                len(ordered),
                test_fraction,
                validation_fraction,
            )
        splits["test"] += [(path, label) for path in ordered[:n_test]]
        if "validation" in splits:
            chosen = ordered[n_test : n_test + n_val]
            splits["validation"] += [(path, label) for path in chosen]
        splits["train"] += [(path, label) for path in ordered[n_test + n_val :]]
    return splits


def split_clips(
    clips: list[tuple[str, int]],
    class_names: tuple[str, ...],
    *,
    test_fraction: float,
    validation_fraction: float,
    seed: int,
) -> tuple[dict[str, list[tuple[str, int]]], str]:
    """Splits `(relative path, label)` clips into train, test and validation.

    If every clip is named `<speaker>_nohash_<n>.wav`, speakers are ordered by a
    SHA-256 hash of `seed` and their id; the first `round(test_fraction * s)` of
    the `s` speakers (at least one) are test, the next
    `round(validation_fraction * s)` (at least one, if asked) validation, the
    rest train, and each clip goes where its speaker is. So no speaker is in two
    splits. (Speech Commands compares each speaker's hash with a threshold
    instead; ordering keeps the fractions exact with a dozen speakers, and
    agrees with it for thousands.)

    Otherwise the split is by file, stratified per class: within each class,
    files ordered by a seeded hash of their path, the first
    `round(test_fraction * n)` test, the next `round(validation_fraction * n)`
    validation, the rest train.

    Each split is then put in a seeded order that mixes the classes.

    Returns:
        `(splits, how)`: split name -> list of `(path, label)` (`"validation"`
        only with `validation_fraction > 0`), and a sentence saying how the
        split was made, for the dataset's description.

    Raises:
        ValueError: if a split would be empty or a class would keep no training
            clip.
    """
    named = sum(speaker_of(path) is not None for path, _ in clips)
    if clips and named == len(clips):
        splits, n_speakers = _by_speaker(
            clips, class_names, test_fraction, validation_fraction, seed
        )
        speakers = {
            split: len({speaker_of(path) for path, _ in examples})
            for split, examples in splits.items()
        }
        per_split = " / ".join(f"{n} {split}" for split, n in speakers.items())
        how = (
            f"split by speaker (<speaker>_nohash_<n>.wav names: {n_speakers} "
            f"speakers, {per_split}; no speaker in two splits; seed {seed})"
        )
    else:
        splits = _by_file(clips, class_names, test_fraction, validation_fraction, seed)
        how = f"split by file, stratified per class, seed {seed}"
        if named:
            how += (
                f"; {named} of {len(clips)} clips are named "
                "<speaker>_nohash_<n>.wav, but a split by speaker needs all of them"
            )
    for split, examples in splits.items():
        if not examples:
            raise ValueError(
                f"{len(clips)} clips are too few to hold out test_fraction="
                f"{test_fraction} and validation_fraction={validation_fraction}: "
                f"the {split} split would be empty; add clips or raise the fraction."
            )
        examples.sort(key=lambda example: _hash_key(seed, "order:" + example[0]))
    return splits, how

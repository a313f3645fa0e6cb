"""`keras-distill`: the command line (also `python -m keras_distill`).

`keras-distill demo` runs the whole pipeline on MNIST-1D, offline: teacher,
label-only baseline student, distilled student, a student pruned and quantized
while distilling, float32 and int8 `.tflite` files verified in LiteRT, a table,
`report.json` and plots. See docs/cli.md.

It runs on the Keras that `tf.keras` is: Keras 3 by default, with our own
pruning and quantization-aware training engine; tf_keras with TF-MOT when you
set `TF_USE_LEGACY_KERAS=1` before starting it. It never switches or restarts
itself: the whole pipeline runs in this process on either Keras.

Nothing here imports TensorFlow at module level, so `--help` and option errors
are instant. TensorFlow's C++ start-up log (CUDA probing, CPU features) is
hidden unless `--verbose` is given; keras_distill/_tf_log.py does that before
TensorFlow loads.
"""

import argparse
import dataclasses
import importlib.util
import sys

from keras_distill import _optional
from keras_distill import _tf_log
from keras_distill.demo import config as demo_config
from keras_distill.demo import methods as demo_methods
from keras_distill.demo.config import DemoConfig
from keras_distill.demo.config import UsageError

PROG = "keras-distill"
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (raised as UsageError)."""

    def error(self, message):
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


_VERBOSE_HELP = (
    "Show TensorFlow's C++ log (CUDA probing, CPU features), hidden by default. "
    "Without this flag a TF_CPP_MIN_LOG_LEVEL you set still chooses the level "
    "(default here: 3, fatal only)."
)


def _add_verbose_flag(parser: argparse.ArgumentParser, default) -> None:
    # Read from sys.argv by keras_distill/_tf_log.py before TensorFlow loads;
    # declared here so that it is accepted and documented.
    parser.add_argument(
        _tf_log.VERBOSE_FLAG,
        dest="verbose",
        action="store_true",
        default=default,
        help=_VERBOSE_HELP,
    )


def _add_demo_options(parser: argparse.ArgumentParser) -> None:
    """One flag per DemoConfig field; defaults are suppressed to see what was given."""
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="TOML file of options (the names below, with underscores or "
        "dashes; a .yaml/.yml file is read as YAML); flags given on the command "
        "line override it.",
    )
    for field in dataclasses.fields(DemoConfig):
        meta = field.metadata
        default = field.default
        shown = "" if default is None else f" (default: {default})"
        if field.type in (bool, "bool"):
            parser.add_argument(
                _flag(field.name),
                dest=field.name,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=meta["help"] + (" (default: off)" if not default else ""),
            )
            continue
        kind = _value_type(field)
        parser.add_argument(
            _flag(field.name),
            dest=field.name,
            type=kind,
            metavar=meta["metavar"],
            choices=meta["choices"],
            default=argparse.SUPPRESS,
            help=meta["help"] + shown,
        )


def _value_type(field):
    text = str(field.type)
    if "int" in text and "float" not in text:
        return int
    if "float" in text:
        return float
    return str


def build_parser() -> argparse.ArgumentParser:
    """The `keras-distill` argument parser (built from `DemoConfig`)."""
    parser = _Parser(
        prog=PROG,
        allow_abbrev=False,
        description="Knowledge distillation for Keras, then pruning, quantization "
        "and verified LiteRT files for Android.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {_package_version()}"
    )
    _add_verbose_flag(parser, default=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        allow_abbrev=False,
        help="Run the whole pipeline and write a report (try: keras-distill demo "
        "--fast).",
        description="Train a teacher (or reuse one), a label-only baseline student "
        "and a distilled student; prune and quantize the student while distilling; "
        "export float32 and int8 .tflite files, verify them in LiteRT, and write "
        "report.json, plots and labels.txt to --output-dir.",
        epilog=f"Methods: {demo_methods.methods_help()} It runs on Keras 3 with "
        "keras_distill's own pruning and QAT engine; set TF_USE_LEGACY_KERAS=1 "
        "to run everything on tf_keras with TF-MOT instead.",
    )
    demo.error = parser.error  # one-line errors for the sub-command too
    _add_verbose_flag(demo, default=argparse.SUPPRESS)
    _add_demo_options(demo)
    return parser


def _package_version() -> str:
    try:
        from importlib.metadata import version

        return version("keras-distill")
    except Exception:  # noqa: BLE001 - not installed: run from a checkout
        return "(not installed)"


def config_from_args(args: argparse.Namespace) -> DemoConfig:
    """Merges defaults, the `--config` file and the flags given (in that order).

    Raises:
        UsageError: a bad config file or option value.
    """
    given = {
        key: value
        for key, value in vars(args).items()
        if key not in ("command", "config", "verbose")
    }
    values = {}
    source = "command line"
    if "config" in vars(args):
        values = demo_config.read_config_file(args.config)
        unknown = sorted(
            {k.replace("-", "_") for k in values} - set(demo_config.field_names())
        )
        if unknown:
            source = f"config file {args.config!r}"
            raise UsageError(
                f"{source}: unknown option(s) {', '.join(unknown)}; valid options: "
                f"{', '.join(demo_config.field_names())}"
            )
        values = {k.replace("-", "_"): v for k, v in values.items()}
        source = f"config file {args.config!r} and command line"
    values.update(given)
    return demo_config.config_from_dict(values, source=source)


def _check_demo_packages(config: DemoConfig) -> None:
    """Refuses a demo whose `[demo]` (or `[tfds]`) extra is missing, before TF loads."""
    needed = ["mnist1d", "sklearn", "matplotlib"]
    if str(config.dataset).startswith("tfds:"):
        needed.append("tensorflow_datasets")
    for name in needed:
        if importlib.util.find_spec(name) is None:
            raise UsageError(_optional.missing_message(name, f"`{PROG} demo`"))


def main(argv: list[str] | None = None) -> int:
    """Runs `keras-distill`; returns the exit code (0 ok, 2 user error).

    Args:
        argv: the arguments after the program name. Defaults to None
            (`sys.argv[1:]`).

    Returns:
        0 on success, 2 for a mistake in the command, options, data or files
        (one line on stderr, no traceback). Bugs still raise.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        config = config_from_args(args)
        _check_demo_packages(config)
        from keras_distill.demo import run_demo  # imports TensorFlow

        run_demo(config)
    except UsageError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    return 0

"""The ``lamina`` command: ``demo``, ``fit``, ``evaluate``, ``predict``, ``summary``, ``convert``.

Exit status: 0 success, 2 a usage error (reported by argparse), 1 a data or model error,
reported in one line (``--debug`` shows the traceback instead).

Examples::

    lamina demo
    lamina fit data.csv --target Outcome --layers 12,8 --epochs 100 --out model.keras
    lamina fit sonar.csv --target 60 --no-header
    lamina evaluate model.keras test.csv --target Outcome
    lamina predict model.keras new.csv --classes --out predictions.csv
    lamina summary model.keras
    lamina convert old_model.h5 model.keras

>>> main(["fit", "--help"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import sys


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be a fraction in [0, 1), got {text}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _add_data_args(p: argparse.ArgumentParser, target_required: bool) -> None:
    p.add_argument("data", help="CSV file (header row detected; override with --[no-]header)")
    p.add_argument(
        "--target",
        required=target_required,
        help="target column: its name, or its index for files without a header",
    )
    p.add_argument(
        "--header",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the first row holds column names (default: detected)",
    )
    p.add_argument("--batch-size", type=_positive, default=32, help="rows per step (32)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lamina",
        description="The Keras Sequential life cycle on JAX: define, compile, fit, evaluate, "
        "predict.",
    )
    from lamina import __version__

    parser.add_argument("--version", action="version", version=f"lamina {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("demo", help="the five life-cycle steps on the shipped Pima data")
    p.add_argument("--epochs", type=_positive, default=100, help=argparse.SUPPRESS)

    p = sub.add_parser("fit", help="train an MLP on a CSV file and save it")
    _add_data_args(p, target_required=True)
    p.add_argument(
        "--task",
        choices=("auto", "binary", "multiclass", "regression"),
        default="auto",
        help="default auto: inferred from the target column (the choice and the reason are "
        "printed); an integer score such as a 0-10 rating is read as classes unless "
        "--task regression",
    )
    p.add_argument("--layers", default="12,8", help="hidden layer sizes, e.g. 12,8 (default)")
    p.add_argument("--epochs", type=_positive, default=50, help="training epochs (50)")
    p.add_argument(
        "--validation-split",
        type=_fraction,
        default=0.0,
        help="fraction of rows (chosen at random) held out for validation",
    )
    p.add_argument("--out", help="save the trained model here (e.g. model.keras)")
    p.add_argument(
        "--plot",
        help='save the learning curves here (PNG; needs pip install "lamina[plot]")',
    )
    p.add_argument("--seed", type=int, default=None, help="random seed for reproducible runs")
    p.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=1,
        help="progress: 0 none, 1 bar (default), 2 one line per epoch",
    )

    p = sub.add_parser("evaluate", help="loss and metrics of a saved model on a CSV file")
    p.add_argument("model", help="model file (.keras or .h5)")
    _add_data_args(p, target_required=True)

    p = sub.add_parser("predict", help="predictions of a saved model for a CSV file")
    p.add_argument("model", help="model file (.keras or .h5)")
    _add_data_args(p, target_required=False)
    p.set_defaults(target=None)
    p.add_argument("--classes", action="store_true", help="write class labels, not probabilities")
    p.add_argument("--out", help="write the CSV here instead of standard output")

    p = sub.add_parser("summary", help="print a saved model's layers and parameters")
    p.add_argument("model", help="model file (.keras or .h5)")

    p = sub.add_parser("convert", help="convert a model file (e.g. Keras 2 .h5 to .keras)")
    p.add_argument("input", help="model file to read")
    p.add_argument("output", help="model file to write; the format follows the extension")

    from lamina.cli import launch

    launch.build_parser(
        sub.add_parser("launch", help="run a training script as N processes on this machine")
    )
    return parser


def _dispatch(args: argparse.Namespace) -> int:
    from lamina.cli import commands

    if args.command == "demo":
        from lamina.cli.demo import run_demo

        run_demo(epochs=args.epochs)
        return 0
    if args.command == "launch":
        return args.func(args)
    return {
        "fit": commands.cmd_fit,
        "evaluate": commands.cmd_evaluate,
        "predict": commands.cmd_predict,
        "summary": commands.cmd_summary,
        "convert": commands.cmd_convert,
    }[args.command](args)


def main(argv: list[str] | None = None) -> int:
    """Runs the ``lamina`` command line; returns the exit status.

    Args:
        argv: the arguments (default ``sys.argv[1:]``).
    """
    args = build_parser().parse_args(argv)
    from lamina.cli.data import DataError

    try:
        return _dispatch(args)
    except BrokenPipeError:  # e.g. `lamina predict ... | head`: the reader left; stay quiet
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print("lamina: interrupted", file=sys.stderr)
        return 130
    except (DataError, OSError, ValueError, TypeError, ImportError, RuntimeError) as e:
        if args.debug:
            raise
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"lamina {args.command}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""The `zoo` command line.

Each module of this package adds its subcommands with `add_commands(subparsers)`; a command
is a function `run(args) -> int`. Errors raised on purpose (ZooError) print one line that
says what to do, never a traceback.

Nothing here imports TensorFlow: `zoo --help`, `zoo list` and `zoo info` answer from the
manifest and the architecture index (zoo/index.py); a command that builds a model imports it
when it does, quietly (zoo/_quiet.py; -v shows TensorFlow's and the converters' own output).
"""
from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys

# modules with subcommands, in help order
COMMAND_MODULES = ["zoo.cli.models", "zoo.cli.hub", "zoo.cli.export", "zoo.cli.bench", "zoo.cli.train"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zoo", description="attention-zoo: attention-based vision backbones for TensorFlow/Keras 3.")
    parser.add_argument("--version", action="version", version=f"attention-zoo {_version()}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show TensorFlow's, the converters' and the runtimes' own messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in COMMAND_MODULES:
        importlib.import_module(mod).add_commands(sub)
    for p in sub.choices.values():  # -v after the command works too
        p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def _version():
    from zoo import __version__
    return __version__


def main(argv=None) -> int:
    if hasattr(signal, "SIGPIPE"):  # `zoo list | head` ends quietly
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    from zoo import _quiet
    from zoo.errors import ZooError
    before = os.environ.get(_quiet.ENV_VERBOSE)
    if args.verbose:
        os.environ[_quiet.ENV_VERBOSE] = "1"
    _quiet.install()  # whenever a command imports TensorFlow, it starts quietly
    try:
        return int(args.run(args) or 0)
    except ZooError as e:
        _end_line()
        msg = str(e)
        if getattr(args, "cli_wording", False):  # the library says pretrained=False; here it is --weights none
            from ._common import cli_wording
            msg = cli_wording(msg, args.command)
        print(f"zoo {args.command}: error: {msg}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        _end_line()
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if args.verbose:
            if before is None:
                os.environ.pop(_quiet.ENV_VERBOSE, None)
            else:
                os.environ[_quiet.ENV_VERBOSE] = before


def _end_line():
    """Close any progress bar still drawn, so that an error starts on a line of its own."""
    tqdm = sys.modules.get("tqdm")
    for bar in list(getattr(getattr(tqdm, "tqdm", None), "_instances", ()) or ()):
        bar.close()


if __name__ == "__main__":
    sys.exit(main())

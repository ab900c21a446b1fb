"""The `zoo` command line.

Each module of this package adds its subcommands with `add_commands(subparsers)`; a command
is a function `run(args) -> int`. Errors raised on purpose (ZooError) print one line that
says what to do, never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys

# modules with subcommands, in help order
COMMAND_MODULES = ["zoo.cli.models", "zoo.cli.hub", "zoo.cli.export"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zoo", description="attention-zoo: attention-based vision backbones for TensorFlow/Keras 3.")
    parser.add_argument("--version", action="version", version=f"attention-zoo {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in COMMAND_MODULES:
        importlib.import_module(mod).add_commands(sub)
    return parser


def _version():
    from zoo import __version__
    return __version__


def main(argv=None) -> int:
    if hasattr(signal, "SIGPIPE"):  # `zoo list | head` ends quietly
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from ._quiet import import_tensorflow_quietly
    import_tensorflow_quietly()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    from zoo.errors import ZooError
    try:
        return int(args.run(args) or 0)
    except ZooError as e:
        print(f"zoo {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""The ``crowdmix`` command.

Each subcommand lives in its own module of this package, exposing ``add_parser(subparsers)``
(which registers its arguments and sets ``func``) and is listed in :data:`COMMANDS`.
Errors in the user's input end the program with exit status 2 and a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ..exceptions import InputError

__all__ = ["main", "COMMANDS"]

#: subcommand modules, in the order ``crowdmix --help`` lists them
COMMANDS = ["aggregate", "benchmark", "rank_workers"]


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="crowdmix",
        description="Aggregate noisy crowd labels and cluster discrete data with fast EM.",
    )
    parser.add_argument("--version", action="version", version=f"crowdmix {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f".{name}", __name__).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``crowdmix`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (InputError, FileNotFoundError, PermissionError, IsADirectoryError) as err:
        print(f"crowdmix {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"crowdmix {args.command}: interrupted; no output was written", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

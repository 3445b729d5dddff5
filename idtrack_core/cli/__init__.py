"""``idtrack-atlas`` command line: thin wrappers over idtrack_core, one module per group of commands.

Sources are URLs: a dump root (local folder, ``http(s)://``, ``s3://``) or ``mysql://user[:password]@host[:port]``
(prefer the ``IDTRACK_MYSQL_PASSWORD`` environment variable to a password in the URL). S3 credentials come from the
standard ``AWS_*`` environment variables, the endpoint from ``IDTRACK_S3_ENDPOINT_URL``; timeouts and retries from
the ``IDTRACK_*`` variables of :mod:`idtrack_core.network`.

Every error is one line on stderr, ``idtrack-atlas: error: …``, with exit code 2 (130 when interrupted); ``--debug``
adds the traceback.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from idtrack_core import __version__, progress
from idtrack_core.cli import convert, ensembl, harmonize, history, provenance
from idtrack_core.cli.args import Command, HelpFormatter
from idtrack_core.errors import IdtrackError

log = logging.getLogger("idtrack_core")
COMMAND_MODULES = (ensembl, convert, history, harmonize, provenance)
PROG = "idtrack-atlas"


class CommandLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line, ``idtrack-atlas: error: …`` (exit code 2), that reports an
    unknown option before a missing one, and suggests the closest known option."""

    #: the words after the command's name (set by :func:`main` on each command's parser)
    words: Sequence[str] = ()

    def error(self, message: str) -> NoReturn:
        unknown = [w for w in self.words if w.startswith("--") and not self._knows(w)]
        if unknown and "unrecognized arguments" not in message:
            message = f"unrecognized arguments: {' '.join(unknown)}"
        if "unrecognized arguments" in message:
            message += self._closest_option(message.split(":", 1)[1].split())
        usage = " ".join(filter(None, [PROG, self.prog[len(PROG) :].strip(), "--help"]))
        self.exit(2, f"{PROG}: error: {message} (see {usage})\n")

    def _options(self) -> list[str]:
        """The long options of this parser and of its commands."""
        parsers = [
            self,
            *(p for a in self._actions if isinstance(a, argparse._SubParsersAction) for p in a.choices.values()),
        ]
        return sorted({s for p in parsers for a in p._actions for s in a.option_strings if s.startswith("--")})

    def _knows(self, word: str) -> bool:
        name = word.split("=", 1)[0]
        return name in self._options()  # no abbreviations (allow_abbrev=False)

    def _closest_option(self, words: Sequence[str]) -> str:
        for word in words:
            close = difflib.get_close_matches(word.split("=", 1)[0], self._options(), n=1, cutoff=0.6)
            if word.startswith("--") and close:
                return f"; did you mean {close[0]}?"
        return ""


EXAMPLES = """examples:
  idtrack-atlas demo
  idtrack-atlas convert --source ../shared/data/human_releases --home home --species homo_sapiens \\
      --to-release 114 --final-database 'HGNC Symbol' TP53 ENSG00000141510.19
  idtrack-atlas harmonize --source ../shared/data/human_releases --home home --species homo_sapiens \\
      --to-release 114 --final-database 'HGNC Symbol' --study a=a.h5ad --study b=b.h5ad --out atlas.h5ad \\
      --report report/
  idtrack-atlas COMMAND --help     (every command's options, with examples)"""


def build_parser(extend: Callable[[Any], None] | None = None) -> argparse.ArgumentParser:
    """The command line; ``extend(subparsers)`` may add commands (the platform adds ``demo`` and ``retain``)."""
    parser = CommandLineParser(
        prog=PROG,
        description="Track gene identifiers across Ensembl releases and harmonize single-cell atlases.",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging: -v for progress details, -vv for debug"
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bars or progress lines (results and errors only)"
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    if extend is not None:
        extend(sub)
    for command in sub.choices.values():  # --debug is also accepted after the command
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse ``argv``, first telling each command's parser its words (for :meth:`CommandLineParser.error`)."""
    words = list(sys.argv[1:] if argv is None else argv)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, command in action.choices.items():
                if name in words:
                    command.words = words[words.index(name) + 1 :]
    return parser.parse_args(words)


def error_message(exc: BaseException) -> str:
    """The one line a user reads for ``exc`` (without the ``idtrack-atlas: error:`` prefix)."""
    from idtrack_core.io_errors import is_write_failure, output_write_error

    if isinstance(exc, IdtrackError | argparse.ArgumentTypeError):
        return str(exc)
    if is_write_failure(exc):
        assert isinstance(exc, OSError)
        return str(output_write_error(exc, str(exc.filename or "the output")))
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    if isinstance(exc, OSError | ValueError):
        return f"{type(exc).__name__}: {exc}"
    return f"unexpected {type(exc).__name__}: {exc} (a bug: please report it with the output of --debug)"


def main(argv: Sequence[str] | None = None, extend: Callable[[Any], None] | None = None) -> int:
    """Run the command line; returns the exit code (2 for any error, 130 when interrupted)."""
    args = _parse(build_parser(extend), argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    progress.configure("off" if args.quiet else "auto")
    if not args.quiet:  # the progress lines shown when stderr is not a terminal
        logging.getLogger(progress.log.name).setLevel(min(level, logging.INFO))
    func: Command = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of stdout went away (``| head``): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        if args.debug:
            traceback.print_exc(file=sys.stderr)
        print(f"{PROG}: error: {' '.join(error_message(exc).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""Command line: `python -m devstack run --profile dev|test -- CMD...` and `... status`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from devstack import supervisor


def _parser() -> argparse.ArgumentParser:
    """Build the argument parser for the `run` and `status` subcommands."""
    parser = argparse.ArgumentParser(
        prog="python -m devstack",
        description="Embedded PostgreSQL 16, Redis and OpenBao for development and tests.",
    )
    commands = parser.add_subparsers(dest="action", required=True)
    run = commands.add_parser(
        "run",
        help="start the services, run CMD with DATABASE_URL, REDIS_URL, VAULT_ADDR, VAULT_TOKEN",
        description="Start the services not already given by DATABASE_URL, REDIS_URL or "
        "VAULT_ADDR, run CMD with their URLs in its environment, stop them, exit with CMD's code.",
    )
    run.add_argument(
        "--profile",
        choices=("dev", "test"),
        required=True,
        help="dev: persistent .devstack/dev (one at a time); test: throw-away .devstack/test-PID",
    )
    run.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD [ARGS...]")
    commands.add_parser("status", help="show what runs under .devstack")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` and run the chosen subcommand, returning the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.action == "status":
        return supervisor.status()
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        parser.error("run: give the command to run after `--`")
    return supervisor.run(args.profile, command)


if __name__ == "__main__":
    sys.exit(main())

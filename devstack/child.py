"""`python -m devstack.child -- CMD...`: run CMD so that it ends when its parent process ends.

`make run` starts the Celery worker this way next to the development server, so stopping the
server (or the supervisor) never leaves a worker behind.
"""

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> None:
    """Ask the kernel to send SIGTERM when the parent dies, then become CMD."""
    command = argv[1:] if argv[:1] == ["--"] else argv
    if not command:
        raise SystemExit("usage: python -m devstack.child -- CMD [ARGS...]")
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:  # the parent is already gone
        raise SystemExit(0)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])

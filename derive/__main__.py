"""The entry point of `derive` and `python -m derive`. Ctrl-C (or a kill signal) is taken
over before the heavy imports, so that it prints one line however early it comes, and it
is raised where the program is, so that every ``with`` block cleans up (a half-built
output folder is deleted) before that line is printed."""

import signal
import sys

from .errors import Interrupted


def _interrupt(signum, frame):
    raise Interrupted(signum)


def main() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(sig) is not signal.SIG_IGN:  # as in a background job: leave it ignored
            signal.signal(sig, _interrupt)
    try:
        from .cli import main as run

        run()
    except Interrupted as exc:
        sys.stderr.write("derive: interrupted\n")
        sys.exit(128 + exc.args[0])


if __name__ == "__main__":
    main()

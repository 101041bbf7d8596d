"""Entry point: `restora <command> ...` runs the CLI; `restora [photos...]` opens the window.

Only existing files and folders (or names with an image suffix, which the window then
reports as not found) open the window: a mistyped command or option is a one-line error,
never a window that the person did not ask for (or that hangs with no display).

`restora --self-test [--device D] [-v]` checks, headless, that this installation works
(built-in models, image files, the window, program-file trust): one line per check, exit
0 only if all pass (see :mod:`restora.selftest`). It is handled here, before the CLI.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

CLI_FLAGS = ("-h", "--help", "-V", "--version")
SELF_TEST = "--self-test"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == SELF_TEST:   # before the CLI (and anything that imports Qt)
        from .selftest import main as self_test

        return self_test(argv[1:])
    from .cli import COMMANDS, EMPTY_ARGUMENT, EXIT_USER_ERROR, error

    if any(not a.strip() for a in argv):  # `restora "$PHOTO"` with PHOTO unset: "" would open "."
        error(EMPTY_ARGUMENT)
        return EXIT_USER_ERROR
    if argv and (argv[0] in COMMANDS or argv[0] in CLI_FLAGS):
        from .cli import main as cli_main

        return cli_main(argv)
    problem = not_photos(argv)
    if problem:
        error(problem)
        return EXIT_USER_ERROR
    from .gui.app import run

    return run(argv)


def not_photos(argv: list[str]) -> Optional[str]:
    """Why ``argv`` is not a list of photos to open in the window, or None."""
    from .cli import COMMANDS
    from .engine import is_image_path

    hint = f"commands: {', '.join(COMMANDS)}; or give photos to open them in the window"
    for i, arg in enumerate(argv):
        if _exists(arg):
            continue
        if arg.startswith("-"):
            return f"unknown option '{arg}' ({hint})"
        if not is_image_path(Path(arg)):
            return f"unknown command '{arg}' ({hint})" if i == 0 else f"{arg}: no such photo or folder ({hint})"
    return None


def _exists(arg: str) -> bool:
    try:
        return Path(arg).exists()
    except (OSError, ValueError):  # a name too long for the system, a NUL byte
        return False


if __name__ == "__main__":
    sys.exit(main())

"""Outcome tally of the hostile-input suite: every case is a typed error with a useful one-line
message, or the documented result; anything else is counted (and fails its test). The session's
closing summary (conftest.pytest_terminal_summary) prints the counts."""
from __future__ import annotations

import re
from collections import Counter
from typing import Any, Callable, Optional

from hytasbench.errors import HytasError

TALLY: Counter = Counter()


def typed(fn: Callable[[], Any], *patterns: str, kind: type = HytasError) -> HytasError:
    """``fn()`` must raise ``kind`` (a HytasError) whose one-line message matches every pattern."""
    try:
        result = fn()
    except HytasError as exc:
        msg = str(exc)
        if not isinstance(exc, kind) or not msg or "\n" in msg or not all(re.search(p, msg) for p in patterns):
            TALLY["silent"] += 1  # typed, but the wrong type or a useless message
            raise AssertionError(f"{type(exc).__name__}: {msg!r} is not a {kind.__name__} matching {patterns}")
        TALLY["typed"] += 1
        return exc
    except Exception as exc:
        TALLY["untyped"] += 1
        raise AssertionError(f"untyped {type(exc).__name__}: {exc}") from exc
    TALLY["silent"] += 1
    raise AssertionError(f"accepted: returned {result!r:.200}")


def correct(fn: Callable[[], Any], check: Callable[[Any], bool], what: str = "") -> Any:
    """``fn()`` must return a result that ``check`` accepts (the documented result)."""
    try:
        result = fn()
    except HytasError:
        TALLY["typed_but_expected_result"] += 1
        raise
    except Exception as exc:
        TALLY["untyped"] += 1
        raise AssertionError(f"untyped {type(exc).__name__}: {exc}") from exc
    if not check(result):
        TALLY["silent"] += 1
        raise AssertionError(f"wrong result {result!r:.200} {what}")
    TALLY["correct"] += 1
    return result


def typed_or_correct(fn: Callable[[], Any], check: Callable[[Any], bool]) -> Optional[Any]:
    """For generated inputs: a typed error, or a result ``check`` accepts."""
    try:
        result = fn()
    except HytasError as exc:
        if not str(exc) or "\n" in str(exc):
            TALLY["silent"] += 1
            raise AssertionError(f"typed error with an unusable message {str(exc)!r}")
        TALLY["typed"] += 1
        return None
    except Exception as exc:
        TALLY["untyped"] += 1
        raise AssertionError(f"untyped {type(exc).__name__}: {exc}") from exc
    if not check(result):
        TALLY["silent"] += 1
        raise AssertionError(f"wrong result {result!r:.200}")
    TALLY["correct"] += 1
    return result


def cli(main: Callable, argv: list, capsys, code: int = 2, *patterns: str) -> str:
    """A CLI call that must exit ``code`` with one ``error:`` line on stderr matching the patterns
    (argparse's own usage errors count: exit 2 with a message)."""
    try:
        got = main(argv)
    except SystemExit as exc:
        got = exc.code
    except HytasError as exc:
        TALLY["untyped"] += 1  # the CLI must turn it into an exit status
        raise AssertionError(f"{argv}: uncaught {type(exc).__name__}: {exc}") from exc
    except Exception as exc:
        TALLY["untyped"] += 1
        raise AssertionError(f"{argv}: untyped {type(exc).__name__}: {exc}") from exc
    err = capsys.readouterr().err.strip()
    last = err.splitlines()[-1] if err else ""
    if got != code or not last.startswith(("error:", "usage:")) and "error:" not in last \
            or not all(re.search(p, err) for p in patterns) or "Traceback" in err:
        TALLY["silent"] += 1
        raise AssertionError(f"{argv}: exit {got}, stderr {err!r:.400}")
    TALLY["typed"] += 1
    return last


def summary() -> str:
    total = sum(TALLY.values())
    return (f"hostile cases: {total} ({TALLY['typed']} typed errors, {TALLY['correct']} documented results); "
            f"untyped exceptions: {TALLY['untyped']}; silent wrong results: {TALLY['silent']}; "
            f"typed where a result was documented: {TALLY['typed_but_expected_result']}")

"""The table of bad and edge inputs across the public API (issue 14).

Each ``test_*.py`` in this folder lists :class:`Case` rows and runs them with :func:`check`.
A bad input must raise ``error`` with every string of ``names`` in its message (the argument's
name, what it got, what it expects); a valid edge case gives ``ok`` a result to assert on.
``tests/robustness/test_count.py`` checks that the table keeps at least 100 rows.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable, Optional, Sequence

import pytest


@dataclasses.dataclass(frozen=True)
class Case:
    """One row: ``call()`` either raises ``error`` naming ``names``, or returns a value ``ok`` accepts.

    Attributes:
        id: a short name, shown by pytest.
        call: the input to try, as a function of no arguments.
        error: the exception type expected (``None`` for a valid edge case).
        names: substrings the message must contain (case-sensitive), e.g. the argument name.
        ok: for a valid edge case, ``ok(result)`` asserts what the result must be.
        warns: a warning category that must be emitted (with ``names`` in its message).
    """

    id: str
    call: Callable[[], Any]
    error: Optional[type] = None
    names: Sequence[str] = ()
    ok: Optional[Callable[[Any], Any]] = None
    warns: Optional[type] = None


def params(cases: Sequence[Case]):
    """``pytest.mark.parametrize`` arguments for a list of cases, with their ids."""
    ids = [case.id for case in cases]
    duplicates = {i for i in ids if ids.count(i) > 1}
    assert not duplicates, f"duplicate case ids: {sorted(duplicates)}"
    return pytest.mark.parametrize("case", cases, ids=ids)


def check(case: Case) -> None:
    """Run one row of the table."""
    if case.error is not None:
        with pytest.raises(case.error) as info:
            case.call()
        message = str(info.value)
        for name in case.names:
            assert name in message, f"{case.id}: message {message!r} does not name {name!r}"
        return
    if case.warns is not None:
        with pytest.warns(case.warns) as record:
            result = case.call()
        text = " ".join(str(w.message) for w in record)
        for name in case.names:
            assert name in text, f"{case.id}: warning {text!r} does not name {name!r}"
    else:
        result = case.call()
    assert case.ok is not None, f"{case.id}: a valid edge case needs ok= to check its result"
    case.ok(result)


def count_cases(module_globals: dict) -> int:
    """How many rows a table module defines (its lists named ``CASES`` or ``*_CASES``)."""
    return sum(
        len(value) for name, value in module_globals.items()
        if re.fullmatch(r"(\w+_)?CASES", name) and isinstance(value, (list, tuple))
    )

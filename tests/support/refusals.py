"""A domain refusal as the agent reads it: the engine raises a reason code, the interface words it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

import wording
from flows.engine import Refused


@contextmanager
def refused_with(pattern: str, kind: type[Refused] = Refused) -> Iterator[None]:
    """Expect `kind` raised, its wording (`wording.refusal`) matching `pattern` (a regular expression)."""
    with pytest.raises(kind) as caught:
        yield
    shown = wording.refusal(caught.value)
    assert re.search(pattern, shown), f"{caught.value.code}: {shown!r} does not match {pattern!r}"

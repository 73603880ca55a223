"""The fault-injection suite's figures, printed at the end of the run whatever the capture mode."""

from __future__ import annotations

from collections import Counter

import pytest

FIGURES: Counter[str] = Counter()
ORDER = ("scenarios run", "faults injected", "messages expected", "messages delivered", "messages duplicated",
         "clicks resent")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.write_sep("-", "fault injection")
        terminalreporter.write_line(", ".join(f"{name}: {FIGURES[name]}" for name in ORDER))
        for name in sorted(set(FIGURES) - set(ORDER)):
            terminalreporter.write_line(f"  {name}: {FIGURES[name]}")

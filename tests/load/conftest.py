"""The load test's figures, printed at the end of the run whatever the capture mode."""

from __future__ import annotations

import pytest

FIGURES: dict[str, object] = {}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.write_sep("-", "load")
        terminalreporter.write_line(", ".join(f"{name}: {value}" for name, value in FIGURES.items()))

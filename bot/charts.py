"""The funnel of the M+3 programme as a PNG image, and its upload to a Slack channel.

Drawn with matplotlib's object API (`Figure` on the Agg canvas): no display, no global pyplot state, safe in
the listeners' threads. Uploaded with slack_sdk's `files_upload_v2` (files.getUploadURLExternal, then
files.completeUploadExternal).
"""

from __future__ import annotations

import io

from matplotlib.figure import Figure
from slack_sdk import WebClient

import wording
from storage.dashboards import Figures

_BAR = "#2e7d6b"


def funnel_png(figures: Figures, title: str) -> bytes:
    """Horizontal bars, one per stage of the funnel, top to bottom, with each stage's count and share of
    the cases opened."""
    stages = figures.funnel
    labels = [wording.t(f"dashboards.figures.{code}.label") for code, _n in stages]
    counts = [n for _code, n in stages]
    opened = max(figures.opened, 1)
    figure = Figure(figsize=(8, 0.6 * len(stages) + 1.2), dpi=110)
    axes = figure.subplots()
    positions = list(range(len(stages)))[::-1]
    axes.barh(positions, counts, color=_BAR)
    axes.set_yticks(positions, labels)
    axes.set_xlim(0, max(counts + [1]) * 1.25)
    for y, n in zip(positions, counts, strict=True):
        axes.text(n, y, f"  {n} ({round(100 * n / opened)} %)", va="center")
    axes.set_title(title)
    axes.spines[["top", "right"]].set_visible(False)
    axes.xaxis.set_visible(False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def upload_png(client: WebClient, *, channel: str, png: bytes, filename: str, title: str, comment: str) -> str:
    """Share the image in `channel`; returns the Slack file id."""
    response = client.files_upload_v2(channel=channel, content=png, filename=filename, title=title,
                                      initial_comment=comment)
    return response["file"]["id"]

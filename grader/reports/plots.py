"""Pictures for the HTML reports: charts as SVG, MNIST digits as PNG, heat-map colours; all inline.

Every picture is returned as a ``data:`` URI (or a colour string), so a report is one
self-contained file. Figures are made with matplotlib's object API and the Agg/SVG canvases,
never ``pyplot``: reports are rendered from several grading threads at once, and pyplot's global
figure registry is not thread-safe.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

INK = "#1f2933"
ACCENT = "#2f6fb3"
GRID = "#d5dbe1"
NON_FINITE = "#5b2a86"
"""Heat-map colour of a cell holding NaN or inf (purple: outside the white-to-red scale)."""


def _data_uri(kind: str, payload: bytes) -> str:
    return f"data:{kind};base64,{base64.b64encode(payload).decode('ascii')}"


def _figure(width: float, height: float) -> tuple[Figure, Axes]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.spines[["top", "right"]].set_visible(False)
    for spine in axes.spines.values():
        spine.set_color(INK)
    axes.tick_params(colors=INK, labelsize=9)
    return figure, axes


def _svg(figure: Figure) -> str:
    import matplotlib

    stream = io.BytesIO()
    # No date in the metadata and fixed element ids: the same results render to the same bytes.
    with matplotlib.rc_context({"svg.hashsalt": "grader"}):
        figure.savefig(stream, format="svg", metadata={"Date": None})
    return _data_uri("image/svg+xml", stream.getvalue())


def score_histogram(percentages: Sequence[float]) -> str:
    """Histogram of total scores in percent of the maximum, ten bins from 0 to 100, as an SVG URI."""
    figure, axes = _figure(6.4, 2.8)
    counts, edges = np.histogram(np.clip(percentages, 0, 100), bins=10, range=(0, 100))
    axes.bar(edges[:-1], counts, width=10, align="edge", color=ACCENT, edgecolor="white")
    for left, count in zip(edges[:-1], counts):
        if count:
            axes.annotate(str(count), (left + 5, count), ha="center", va="bottom", fontsize=9, color=INK)
    axes.set_xlim(0, 100)
    axes.set_xticks(edges)
    axes.set_xlabel("total score (% of the maximum)", color=INK)
    axes.set_ylabel("submissions", color=INK)
    from matplotlib.ticker import MaxNLocator

    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.margins(y=0.15)
    axes.grid(axis="y", color=GRID, linewidth=0.6)
    axes.set_axisbelow(True)
    return _svg(figure)


def problem_chart(names: Sequence[str], mean_percent: Sequence[float], pass_percent: Sequence[float]) -> str:
    """Per problem, mean score and pass rate in percent, as horizontal bars; an SVG URI."""
    figure, axes = _figure(6.4, 0.9 + 0.34 * len(names))
    rows = np.arange(len(names))
    axes.barh(rows - 0.19, mean_percent, height=0.36, color=ACCENT, label="mean score")
    axes.barh(rows + 0.19, pass_percent, height=0.36, color="#9bbfe0", hatch="///", edgecolor="white",
              label="full marks")
    axes.set_yticks(rows, labels=list(names))
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    axes.set_xlabel("% of the problem's points / % of submissions", color=INK)
    axes.grid(axis="x", color=GRID, linewidth=0.6)
    axes.set_axisbelow(True)
    axes.legend(loc="lower right", fontsize=8, frameon=False, bbox_to_anchor=(1.0, 1.0), ncols=2)
    return _svg(figure)


def digit_png(pixels: np.ndarray) -> str:
    """A 28 x 28 MNIST image, dark ink on white, as a PNG URI (scaled up by CSS, not here)."""
    from matplotlib.image import imsave

    stream = io.BytesIO()
    imsave(stream, np.asarray(pixels), cmap="gray_r", vmin=0, vmax=255, format="png")
    return _data_uri("image/png", stream.getvalue())


def _luminance(colour: str) -> float:
    from matplotlib.colors import to_rgb

    channels = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in to_rgb(colour)]
    return 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]


def readable_on(background: str) -> str:
    """Dark ink or white, whichever contrasts more with ``background`` (WCAG contrast ratio)."""
    light = _luminance(background)
    on_white = 1.05 / (light + 0.05)
    on_ink = (light + 0.05) / (_luminance(INK) + 0.05)
    return "#ffffff" if on_white > on_ink else INK


def heat_colours(value: float, largest: float) -> tuple[str, str]:
    """Background and text colours of one heat-map cell: white (no error) to dark red (largest).

    ``value`` is a pooled |error|; -1 marks a non-finite entry, which gets its own colour.
    """
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    if value < 0:
        return NON_FINITE, readable_on(NON_FINITE)
    share = value / largest if largest > 0 else 0.0
    background = to_hex(colormaps["Reds"](0.05 + 0.9 * min(max(share, 0.0), 1.0)))
    return background, readable_on(background)


def scale_colours(share: float, palette: str = "Blues") -> tuple[str, str]:
    """Background and text colours for a count in a table (confusion matrix), by its share 0-1."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    share = min(max(share, 0.0), 1.0)
    if share == 0:
        return "#ffffff", INK
    # Up to a mid tone only: dark ink on every cell keeps a 4.5:1 contrast for the counts.
    background = to_hex(colormaps[palette](0.08 + 0.5 * share))
    return background, readable_on(background)

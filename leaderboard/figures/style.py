"""One look for every figure of the suite: sizes for a paper column, font sizes, a colour-blind-safe palette, and
how a figure is written (PNG for READMEs and slides, PDF with embedded TrueType fonts for papers).

Sizes are those of the two-column templates of the field's venues (CVPR / ICCV / ECCV): a column is 3.25 in
wide, the text block 6.875 in. Text is 7 pt, which stays readable when a figure is printed at column width
without scaling. Colours come from the Okabe-Ito palette (Okabe & Ito, "Color Universal Design", 2008),
which stays distinguishable under the common forms of colour blindness; continuous values use ``cividis``.

PDFs embed their fonts as TrueType (``pdf.fonttype`` 42), never as Type 3 bitmaps-as-glyphs, which
publishers' checks refuse and which do not copy as text.

Use it like this (the figure must be *built* inside the style, since text takes its size when it is made)::

    with figure_style():
        fig = new_figure(COLUMN_WIDTH_IN, 2.0)
        ...
        png, pdf = save(fig, out_dir / "name")
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from benchmark.atomic import atomic_path

COLUMN_WIDTH_IN = 3.25  # one column of a two-column paper
TEXT_WIDTH_IN = 6.875  # the full text width of the same templates
FONT_SIZE_PT = 7.0
SMALL_FONT_SIZE_PT = 6.0  # tick labels, legends, captions of small panels
PNG_DPI = 200

# Okabe-Ito, in the order lines and bars take them (black first: the reference or ground truth)
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "yellow": "#F0E442",  # last: too light for thin lines on white
}
PALETTE = tuple(OKABE_ITO.values())
SEQUENTIAL_CMAP = "cividis"  # perceptually uniform and colour-blind-safe, for heat maps

RC_PARAMS = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],  # ships with matplotlib: the same glyphs on every machine
    "font.size": FONT_SIZE_PT,
    "axes.titlesize": FONT_SIZE_PT,
    "axes.labelsize": FONT_SIZE_PT,
    "figure.titlesize": FONT_SIZE_PT,
    "xtick.labelsize": SMALL_FONT_SIZE_PT,
    "ytick.labelsize": SMALL_FONT_SIZE_PT,
    "legend.fontsize": SMALL_FONT_SIZE_PT,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.0,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "axes.prop_cycle": None,  # filled in by figure_style (needs cycler, imported with matplotlib)
    "image.cmap": SEQUENTIAL_CMAP,
    "image.interpolation": "nearest",  # video frames are shown pixel for pixel, never smoothed
    "pdf.fonttype": 42,  # TrueType: embedded, selectable text, accepted by publishers
    "ps.fonttype": 42,
    "svg.fonttype": "none",
    "text.usetex": False,
    "savefig.dpi": PNG_DPI,
    "savefig.facecolor": "white",
}


def rc_params() -> dict:
    """:data:`RC_PARAMS` with the palette as the colour cycle (a ``cycler``, so matplotlib is imported here)."""
    from cycler import cycler

    return {**RC_PARAMS, "axes.prop_cycle": cycler(color=list(PALETTE))}


@contextlib.contextmanager
def figure_style():
    """Within the block, matplotlib draws with :func:`rc_params`; the caller's settings are restored after."""
    import matplotlib

    with matplotlib.rc_context(rc_params()):
        yield


def new_figure(width_in: float, height_in: float):
    """A ``matplotlib.figure.Figure`` of this size in inches, without pyplot (no window, no global figure list)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in))


def text_width_in(text: str, size_pt: float = FONT_SIZE_PT, *, bold: bool = False) -> float:
    """Width in inches of one line of ``text`` in the style's font at ``size_pt`` (measured, no renderer needed)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    font = FontProperties(family=RC_PARAMS["font.sans-serif"], size=size_pt, weight="bold" if bold else "normal")
    width_pt, _, _ = TextToPath().get_text_width_height_descent(text, font, ismath=False)
    return width_pt / 72.0


def save(fig, out_stem) -> tuple[Path, Path]:
    """Write ``fig`` to ``<out_stem>.png`` (:data:`PNG_DPI`) and ``<out_stem>.pdf``, each atomically; return both.

    The figure's size is kept as laid out (no tight bounding box), so a PNG is exactly ``figsize * PNG_DPI``
    pixels. The PDF carries no creation date, so drawing the same figure twice gives the same bytes.
    Call it inside :func:`figure_style` (the PDF font type is read when the file is written).
    """
    stem = Path(out_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    png, pdf = stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".pdf")
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", dpi=PNG_DPI, metadata={"Software": None})
    with atomic_path(pdf) as tmp:
        fig.savefig(tmp, format="pdf", metadata={"CreationDate": None, "Creator": None, "Producer": None})
    return png, pdf

"""The static leaderboard site: ``python -m benchmark leaderboard --format page --out DIR [--root RUNS]``.

It is made from the same table model as the other formats (:func:`leaderboard.table.build_leaderboard`) and
the run folders the model's rows name, and written as a folder that can be published as it is: every link
is relative, and CSS and JavaScript are inline (no CDN, no file fetched from elsewhere)::

    DIR/index.html                   every table of the leaderboard (:func:`~leaderboard.render_html.html_table`);
                                     click a metric heading to sort by it (see :mod:`leaderboard.page_assets`);
                                     each run's name links to its page
    DIR/runs/<run>/index.html        one page per run: what it is, its scores with their intervals, frame strips,
                                     and its per-clip scores (a sortable table, one row per clip of per_clip.csv)
    DIR/runs/<run>/per_clip.csv      the run's per_clip.csv, copied
    DIR/runs/<run>/<clip_id>.png     a frame strip: ground truth (top) and the run's video (bottom) of one clip

``<run>`` is the run folder's path under the root searched, with ``/`` as ``-`` (``synth-test-exo-copy``).
The strips show :data:`N_STRIP_CLIPS` clips per run, chosen as the qualitative figure chooses them
(:func:`leaderboard.figures.qualitative.clips_to_show`: from as many categories as possible, the same clips
for runs that have the same videos) at :func:`~leaderboard.figures.qualitative.default_frames`; frames taller
than :data:`STRIP_MAX_HEIGHT` pixels are reduced. The true frames come from the dataset the run names (or
``data_root``). A run without videos, or whose dataset is not on this machine, gets a page without strips
that says why (and a warning): the strips illustrate, the numbers are the page.

``DIR`` must be new, empty or a page this command wrote before (whose ``runs/`` is then replaced, so that a
run removed from the root does not keep a stale page); anything else is refused, so that a mistyped ``--out``
never deletes someone's files.
"""

from __future__ import annotations

import html
import math
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from benchmark.atomic import write_bytes_atomic, write_text_atomic
from benchmark.errors import UsageError
from benchmark.metrics import catalog
from benchmark.results import PER_CLIP_FILENAME, dataset_config, load_results, read_per_clip
from leaderboard.page_assets import PAGE_STYLE, SORT_SCRIPT
from leaderboard.protocol import protocol_digest
from leaderboard.render_html import HTML_STYLE, html_body, html_document
from leaderboard.table import build_leaderboard

INDEX = "index.html"
RUNS_DIR = "runs"
GENERATOR = "exoego-benchmark leaderboard page"  # <meta name="generator">: marks a folder this command wrote
N_STRIP_CLIPS = 3
STRIP_MAX_HEIGHT = 96  # pixels of one frame in a strip; taller frames are reduced, smaller ones kept as they are
STRIP_MIN_SHOWN = 64  # frames smaller than this are shown enlarged (pixelated) in the page
STRIP_GAP = 2  # white pixels between frames and between the two rows
HOW_TO_READ = ("Click a metric's heading to sort its table by it, better first; click it again for the reverse "
               "order; click \u201cmethod\u201d for the printed order. n/a stays last. Each table sorts its own "
               "rows: runs of other protocols and reported numbers never mix with the ranked ones. Each run's "
               "name leads to its per-clip scores and example frames.")


@dataclass
class Strip:
    """One frame strip: ``file`` (a PNG next to the run page), the clip, the frame indices shown, the image's
    size in pixels ``(height, width)`` and the clip's PSNR as printed (from per_clip.csv)."""

    clip_id: str
    category: str
    frames: list
    file: str
    size: tuple
    psnr: str


@dataclass
class RunPage:
    """A run's page: ``path`` its results.json relative to the root (the rows' ``data-path``), ``slug`` its
    folder under ``runs/``, where it appears (``(table label, table title)``), and its strips or why none."""

    path: str
    folder: Path
    slug: str
    results: dict
    tables: list = field(default_factory=list)
    strips: list = field(default_factory=list)
    no_strips: Optional[str] = None

    @property
    def href(self) -> str:
        """The page's address relative to ``index.html``."""
        return f"{RUNS_DIR}/{self.slug}/{INDEX}"


@dataclass
class BuiltPage:
    """What :func:`write_page` wrote: ``index`` (``DIR/index.html``), the run pages, and warnings (runs whose
    strips could not be drawn, with the reason)."""

    index: Path
    runs: list
    warnings: list


def write_page(root, out, *, data_root=None, n_strip_clips: int = N_STRIP_CLIPS, **options) -> BuiltPage:
    """Write the leaderboard site of every ``results.json`` under ``root`` into the folder ``out``.

    ``options`` are :func:`~leaderboard.table.build_leaderboard`'s (``dataset``, ``split``, ``config``,
    ``metrics``, ``include_reported``, ``by``); ``data_root`` is where the datasets of the runs are when not
    where their results say (for the strips' ground truth); ``n_strip_clips`` clips get a strip per run.
    """
    root, out = Path(root), Path(out)
    board = build_leaderboard(root, **options)
    _prepare_out(out)
    pages = _run_pages(board, root)
    warnings = []
    for page in pages.values():
        run_dir = out / RUNS_DIR / page.slug
        run_dir.mkdir(parents=True, exist_ok=True)
        if n_strip_clips > 0:
            _draw_strips(page, run_dir, data_root, n_strip_clips)
            if page.no_strips:
                warnings.append(f"{page.folder}: no frame strips ({page.no_strips})")
        per_clip = page.folder / PER_CLIP_FILENAME
        write_bytes_atomic(run_dir / PER_CLIP_FILENAME, per_clip.read_bytes())
        write_text_atomic(run_dir / INDEX, run_page_html(page, read_per_clip(per_clip)))

    def row_link(row):
        page = pages.get(row.path) if row.path and not row.reported else None
        return page.href if page else None

    body = html_body(board, row_link)
    body.insert(1, f'<p class="how">{html.escape(HOW_TO_READ)}</p>')
    index = out / INDEX
    write_text_atomic(index, html_document("Leaderboard", body, style=HTML_STYLE + "\n" + PAGE_STYLE,
                                           script=SORT_SCRIPT, head=_HEAD))
    return BuiltPage(index=index, runs=list(pages.values()), warnings=warnings)


_HEAD = (f'<meta name="generator" content="{GENERATOR}">',
         '<meta name="viewport" content="width=device-width, initial-scale=1">')


def _prepare_out(out: Path) -> None:
    """Make ``out`` ready: created when new; an earlier page's ``runs/`` removed; any other content refused."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: is a file; --format page writes a folder (index.html, runs/)")
    if out.is_dir() and any(out.iterdir()):
        index = out / INDEX
        earlier = index.is_file() and f'content="{GENERATOR}"' in index.read_text(encoding="utf-8", errors="replace")
        if not earlier:
            raise UsageError(f"--out {out}: the folder holds files that are not a leaderboard page written by this "
                             "command; give a new or empty folder (nothing in it is deleted)")
        shutil.rmtree(out / RUNS_DIR, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)


def _run_pages(board, root: Path) -> dict:
    """``{results.json path relative to root: RunPage}`` for every run row of the board's tables, in order."""
    pages: dict = {}
    slugs: set = set()
    for section in board.sections:
        for table in section.tables:
            title = table.title or f"{section.title}: ranked"
            for row in table.rows:
                if row.reported or not row.path:
                    continue
                if row.path not in pages:
                    folder = (root / row.path).parent
                    slug = base = _slug(Path(row.path).parent)
                    n = 1
                    while slug in slugs:  # two folders that differ only in case or punctuation
                        n += 1
                        slug = f"{base}-{n}"
                    slugs.add(slug)
                    pages[row.path] = RunPage(row.path, folder, slug, load_results(folder / "results.json"))
                pages[row.path].tables.append((table.label, title))
    return pages


def _slug(path: Path) -> str:
    text = re.sub(r"[^a-z0-9._]+", "-", "-".join(path.parts).lower()).strip("-.")
    return text or "run"


# ---- frame strips -------------------------------------------------------------------------------------------------


def _draw_strips(page: RunPage, run_dir: Path, data_root, n_clips: int) -> None:
    """Write up to ``n_clips`` strips of the run into ``run_dir``; on failure leave ``page.no_strips`` set.

    Missing videos, a dataset that is not on this machine or a video that does not decode (``ValueError`` /
    ``OSError``: :class:`UsageError`, ``DatasetNotFoundError``, ``VideoReadError``) cost the strips, not the
    page."""
    from leaderboard.figures import qualitative

    if not (page.folder / "videos").is_dir():
        page.no_strips = "the run folder has no videos/ (it holds only the scores)"
        return
    try:
        run = qualitative.load_run(page.folder)
        dataset = qualitative.open_dataset(run, data_root)
        clip_ids = qualitative.clips_to_show([run], dataset, n=n_clips)
        for clip_id in clip_ids:
            panel = qualitative.clip_panel(dataset, [run], [run.method], clip_id)
            (_, truth), (_, made) = panel.rows
            image = strip_image(truth, made)
            name = f"{_slug(Path(clip_id))}.png"
            write_bytes_atomic(run_dir / name, _png_bytes(image))
            psnr = catalog.format_interval("psnr", qualitative.clip_score(run.per_clip, clip_id, "psnr"), None)
            page.strips.append(Strip(clip_id, panel.category, list(panel.frames), name, image.shape[:2], psnr))
    except (ValueError, OSError) as err:
        message = str(err)
        page.no_strips = message.removeprefix(f"{page.folder}: ")


def strip_image(truth, made, max_height: int = STRIP_MAX_HEIGHT, gap: int = STRIP_GAP):
    """Two rows of frames on white: ``truth`` above ``made``, each uint8 (F, H, W, 3) with the same F, H, W.

    Frames taller than ``max_height`` are reduced (area averaging) to that height, keeping their aspect ratio.
    Returns uint8 (2 h + gap, F w + (F - 1) gap, 3), where (h, w) is the (reduced) frame size."""
    import numpy as np

    if truth.shape != made.shape or truth.ndim != 4 or truth.shape[-1] != 3:
        raise ValueError(f"strip_image: truth {truth.shape} and video {made.shape} must both be (F, H, W, 3)")
    F, H, W, _ = truth.shape
    h, w = (H, W) if H <= max_height else (max_height, max(1, round(W * max_height / H)))
    canvas = np.full((2 * h + gap, F * w + (F - 1) * gap, 3), 255, dtype=np.uint8)
    for r, video in enumerate((truth, made)):
        for j in range(F):
            canvas[r * (h + gap):r * (h + gap) + h, j * (w + gap):j * (w + gap) + w] = _resized(video[j], h, w)
    return canvas


def _resized(frame, h: int, w: int):
    if frame.shape[:2] == (h, w):
        return frame
    import cv2

    return cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)


def _png_bytes(image) -> bytes:
    import cv2

    ok, data = cv2.imencode(".png", image[..., ::-1])  # OpenCV writes BGR
    if not ok:
        raise OSError(f"could not encode a {image.shape} image as PNG")
    return data.tobytes()


# ---- the run page -------------------------------------------------------------------------------------------------


def run_page_html(page: RunPage, per_clip) -> str:
    """A run's page (see the module docstring); ``per_clip``: its per_clip.csv as read by ``read_per_clip``."""
    results = page.results
    method, ds = results["method"], results["dataset"]
    name = method["name"] + (" (oracle)" if method.get("oracle") else "")
    config = dataset_config(results)
    facts = [("method", method["name"])]
    if method.get("registered_as") and method["registered_as"] != method["name"]:
        facts.append(("registered as", method["registered_as"]))
    facts += [("dataset", f"{ds['name']}" + ("" if config == "default" else f" [{config}]")),
              ("split / track", f"{ds['split']} / {ds['track']}"),
              ("clips scored", str(len(per_clip))),
              ("seed", catalog.NA if results.get("seed") is None else str(results["seed"])),
              ("protocol", protocol_digest(results)),
              ("results file", page.path)]
    if method.get("oracle"):
        facts.append(("oracle", "sees ground truth that the task does not give; a reference point, not a method"))
    body = ['<p><a href="../../index.html">\u2190 Leaderboard</a></p>', f"<h1>{html.escape(name)}</h1>",
            '<dl class="run">' + "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in facts)
            + "</dl>",
            "<p>In the leaderboard: " + ", ".join(f'<a href="../../index.html#{html.escape(label)}">'
                                                   f"{html.escape(title)}</a>" for label, title in page.tables)
            + ".</p>"]
    body += _scores_html(results)
    body += _strips_html(page)
    body += ["<h2>Per-clip scores</h2>",
             f'<p>One row per clip of the run\'s <a href="{PER_CLIP_FILENAME}">{PER_CLIP_FILENAME}</a> (a copy of the '
             "file it was scored into). Click a metric's heading to sort by it.</p>",
             per_clip_table(per_clip, results, tuple(s.clip_id for s in page.strips))]
    return html_document(f"{name}: leaderboard run", body, style=HTML_STYLE + "\n" + PAGE_STYLE, script=SORT_SCRIPT,
                         head=_HEAD)


def _scores_html(results: dict) -> list:
    """The run's means with their 95 % intervals, as results.json records them (unavailable metrics say why)."""
    rows = []
    for metric, entry in results["metrics"].items():
        label = html.escape(catalog.heading(metric, entry.get("higher_is_better")))
        if "unavailable" in entry:
            rows.append(f'<tr data-metric="{html.escape(metric)}"><th scope="row">{label}</th><td data-value="">'
                        f'{catalog.NA}</td><td class="text" colspan="2">{html.escape(entry["unavailable"])}</td></tr>')
            continue
        ci = entry.get("ci95")
        interval = "" if ci is None else f"[{catalog.format_value(metric, ci[0])}, {catalog.format_value(metric, ci[1])}]"
        rows.append(f'<tr data-metric="{html.escape(metric)}"><th scope="row">{label}</th>'
                    f'<td data-value="{float(entry["mean"])!r}">{catalog.format_value(metric, entry["mean"])}</td>'
                    f"<td>{interval}</td><td>{entry.get('n', '')}</td></tr>")
    return ["<h2>Scores</h2>",
            "<p>Mean over clips and its 95% percentile-bootstrap interval over clips, from results.json (a metric "
            "over the whole set, such as FVD, has no interval).</p>",
            '<table class="plain scores"><thead><tr><th scope="col">metric</th><th scope="col">mean</th>'
            '<th scope="col">95% interval</th><th scope="col">n clips</th></tr></thead><tbody>',
            *rows, "</tbody></table>"]


def _strips_html(page: RunPage) -> list:
    out = ["<h2>Example frames</h2>"]
    if not page.strips:
        out.append(f"<p>No frame strips: {html.escape(page.no_strips or 'none drawn')}.</p>")
        return out
    out.append("<p>Ground truth (top row) and this run's video (bottom row) at the same frames of a few clips.</p>")
    for strip in page.strips:
        h, w = strip.size
        frame_h = (h - STRIP_GAP) // 2
        scale = max(1, math.ceil(STRIP_MIN_SHOWN / frame_h)) if frame_h < STRIP_MIN_SHOWN else 1
        caption = (f"{strip.clip_id} ({strip.category}): ground truth (top), {page.results['method']['name']} "
                   f"(bottom); frames {', '.join(map(str, strip.frames))}; PSNR {strip.psnr} on this clip.")
        out.append(f'<figure class="strip" id="strip-{html.escape(strip.clip_id)}">'
                   f'<img src="{html.escape(strip.file)}" width="{w * scale}" height="{h * scale}" '
                   f'alt="{html.escape(caption)}"><figcaption>{html.escape(caption)}</figcaption></figure>')
    return out


def per_clip_table(per_clip, results: dict, strips: tuple = ()) -> str:
    """per_clip.csv as a sortable HTML table: a row per clip (``<th scope="row">`` the clip id, linking to its
    strip where there is one), metric columns with ``data-metric`` / ``data-higher-is-better`` headings and
    ``data-value`` cells (empty for a missing score, printed ``n/a``), other columns as text. ``strips``: the
    clip ids with a strip on the page (``#strip-<clip_id>``)."""
    recorded = results.get("metrics", {})
    metric_columns = [c for c in per_clip.columns if c in recorded or c in catalog.METRICS]
    head = ['<th scope="col">clip</th>']
    for column in per_clip.columns:
        if column == "clip_id":
            continue
        if column in metric_columns:
            e = catalog.entry(column, (recorded.get(column) or {}).get("higher_is_better"))
            direction = {True: "true", False: "false"}.get(e.higher_is_better, "")
            head.append(f'<th scope="col" data-metric="{html.escape(column)}" data-higher-is-better="{direction}">'
                        f"{html.escape(catalog.heading(column, e.higher_is_better))}</th>")
        else:
            head.append(f'<th scope="col" data-column="{html.escape(column)}">{html.escape(column)}</th>')
    rows = []
    for record in per_clip.to_dict("records"):
        clip_id = str(record.get("clip_id", ""))
        label = html.escape(clip_id)
        if clip_id in strips:
            label = f'<a href="#strip-{label}">{label}</a>'
        cells = [f'<tr data-clip="{html.escape(clip_id)}"><th scope="row">{label}</th>']
        for column in per_clip.columns:
            if column == "clip_id":
                continue
            value = record[column]
            if column in metric_columns:
                number = _finite(value)
                text = catalog.format_value(column, number)
                cells.append(f'<td data-value="{"" if number is None else repr(number)}">{text}</td>')
            else:
                cells.append(f'<td class="text">{html.escape(_text(value))}</td>')
        rows.append("".join(cells) + "</tr>")
    return "\n".join(['<table class="plain per-clip">', "<thead><tr>" + "".join(head) + "</tr></thead>", "<tbody>", *rows,
                      "</tbody>", "</table>"])


def _text(value) -> str:
    """A non-metric cell as text; a missing value (NaN as pandas reads an empty field) as nothing."""
    return "" if isinstance(value, float) and math.isnan(value) else str(value)


def _finite(value) -> Optional[float]:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None

"""One self-contained page of a sweep's results: ``DIR/report.html``.

:func:`write_html` renders one section per question of the study
(:mod:`amt_jax.report.questions`): the question, the answer (a findings sentence per model, with its
number, interval, the interval's kind and its control), the figures that show it with captions
(:mod:`amt_jax.report.captions`) and every other finding, collapsed; then, for every finished
example cell, A/B audio players — original X, permuted πX, and what moved — sonified by
:func:`amt_jax.report.sonify.sonify_example`; then the full tables (summary, per instrument, by
register), collapsed. Images and audio are embedded as base64 ``data:``
URIs and a Content-Security-Policy allows nothing else, so the page needs no network and no
other file: it can be mailed or opened from a bucket as is. It carries no script.
"""

from __future__ import annotations

import base64
import html
import re
from typing import Any

import numpy as np
from etils import epath

from amt_jax import io as amt_io
from amt_jax.models import registry
from amt_jax.report import captions, questions, sonify
from amt_jax.report.results import Results, load_results
from amt_jax.report.summary import SUMMARY_COLUMNS, by_program, by_register, summary_markdown, summary_rows
from amt_jax.sweep.probes import PROBES

CSP = "default-src 'none'; img-src data:; media-src data:; style-src 'unsafe-inline'"
REPORT_FILE = "report.html"
PLAYERS = (("original", "A: original X"), ("permuted", "B: permuted πX"), ("moved", "B − A: what moved"))
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; }
th { background: #f2f2f2; } td:first-child, td:nth-child(2), td:nth-child(3) { text-align: left; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #444; max-width: 60em; }
.ask { font-size: 1.05em; } .answer ul { margin-top: 0.3em; } .answer li { margin: 0.3em 0; }
details { margin: 0.8em 0; } summary { cursor: pointer; color: #135; }
.players { display: grid; grid-template-columns: repeat(3, 1fr); gap: 1em; margin: 0.5em 0 1em; }
.players div { background: #f7f7f7; padding: 0.5em; border-radius: 4px; }
audio { width: 100%; } code { background: #f2f2f2; padding: 0 0.2em; }
.note { color: #555; font-size: 0.9em; }
"""


def _inline(text: str) -> str:
    """Markdown inline markup of ``text`` (already HTML-escaped): code, bold, links."""
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)

    def link(m):
        target = m.group(2)
        figure = re.fullmatch(r"figures/([^/]+)\.png", target)
        if figure:  # a figure of this page: link to it in the page
            return f'<a href="#figure-{figure.group(1)}">{m.group(1)}</a>'
        return m.group(1)  # other links (PDFs beside summary.md) are left as text: the page stands alone

    return re.sub(r"\[([^\]]+)\]\(([^)]+)\)", link, text)


def markdown_to_html(text: str, *, skip_tables: bool = True, skip_sections: tuple[str, ...] = ("Figures",)) -> str:
    """The subset of Markdown that ``summary.md`` uses: headings, paragraphs, ``- `` lists,
    tables (left out with ``skip_tables``: the page draws its own), inline code, bold, links;
    sections titled in ``skip_sections`` are left out."""
    out, paragraph, items, skipping = [], [], [], False

    def flush():
        if paragraph:
            out.append(f"<p>{_inline(' '.join(paragraph))}</p>")
            paragraph.clear()
        if items:
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
            items.clear()

    for raw in text.splitlines():
        line = html.escape(raw.strip(), quote=False)
        heading = re.match(r"(#{1,6})\s+(.*)", line)
        if heading:
            flush()
            skipping = heading.group(2) in skip_sections
            if not skipping and len(heading.group(1)) > 1:  # the page's own title replaces a top-level heading
                level = min(len(heading.group(1)) + 1, 6)  # the page's own title is h1
                out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif skipping or (skip_tables and line.startswith("|")):
            continue
        elif not line:
            flush()
        elif line.startswith("- "):
            if paragraph:
                flush()
            items.append(line[2:])
        else:
            paragraph.append(line)
    flush()
    return "\n".join(out)


def data_uri(mime: str, data: bytes) -> str:
    """``data:<mime>;base64,...``."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def summary_table(rows: list[dict]) -> str:
    """The summary rows as an HTML table (columns :data:`SUMMARY_COLUMNS`)."""
    head = "".join(f"<th>{c}</th>" for c in SUMMARY_COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{_cell(row.get(c))}</td>" for c in SUMMARY_COLUMNS) + "</tr>" for row in rows)
    return (f'<div style="overflow-x: auto"><table id="summary"><thead><tr>{head}</tr></thead>'
            f'<tbody>{body}</tbody></table></div>')


def drawn_figures(workdir: epath.Path, md: str | None) -> list[str]:
    """The figure stems of this report: those ``summary.md`` lists (what the last ``figures`` run
    drew; a stale file of an older run is not shown), else every ``figures/*.png``; existing only."""
    directory = workdir / "figures"
    pngs = {p.stem for p in directory.glob("*.png")} if directory.exists() else set()
    listed = re.findall(r"\]\(figures/([^)/]+)\.png\)", (md or "").split("\n## Figures", 1)[-1]) if md else []
    return [s for s in listed if s in pngs] if listed else sorted(pngs)


def figure_html(workdir: epath.Path, stem: str, models: list[str]) -> str:
    """One embedded figure with its caption (what it shows, how to read it, its intervals' kind)."""
    text = captions.caption(stem) if questions.figure_name(stem) else "A figure of this sweep."
    owner = next((m for m in models if stem.endswith(f"_{registry.slug(m)}")), None)
    if owner is not None:
        text = f"{registry.label(owner)}. {text}"
    png = (workdir / "figures" / f"{stem}.png").read_bytes()
    alt = html.escape(text.split(". ")[0] if owner is None else text.split(". ")[0] + ". " + text.split(". ")[1])
    return (f'<figure id="figure-{html.escape(stem)}"><img alt="{alt}" src="{data_uri("image/png", png)}">'
            f'<figcaption>{html.escape(text)}</figcaption></figure>')


def question_section(workdir: epath.Path, section: questions.Section, models: list[str]) -> str:
    """A question's section: the question, the answer (a sentence per model: number, interval and
    its kind, control), the figures with captions, then every other finding, collapsed."""
    q = section.question
    out = [f'<section class="question" id="q-{q.key}"><h2>{html.escape(q.title)}</h2>',
           f'<p class="ask"><strong>Question.</strong> {html.escape(q.question)}</p>']
    if section.headlines:
        out.append('<div class="answer"><strong>Answer.</strong><ul>'
                   + "".join(f"<li>{html.escape(s)}</li>" for s in section.headlines) + "</ul></div>")
    if section.families:
        out.append(f'<p class="note">q values: Benjamini–Hochberg within the sweep\'s question '
                   f'{", ".join(html.escape(repr(f)) for f in section.families)}.</p>')
    out += [figure_html(workdir, stem, models) for stem in section.figures]
    if section.others:
        out.append(f"<details><summary>Every other finding of this question ({len(section.others)})</summary><ul>"
                   + "".join(f"<li>{html.escape(s)}</li>" for s in section.others) + "</ul></details>")
    return "\n".join(out) + "</section>"


def rows_table(rows: list[dict], columns: tuple[tuple[str, str], ...], *, table_id: str) -> str:
    """``rows`` as an HTML table: ``columns`` are (header, key) pairs."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h, _ in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(r.get(k))}</td>" for _, k in columns) + "</tr>" for r in rows)
    return (f'<div style="overflow-x: auto"><table id="{table_id}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def tables_section(results: Results, rows: list[dict]) -> str:
    """The full tables, each collapsed: every summary row, per instrument, by register."""
    def words(r):
        return {**r, "probe": f"{r['kind'].replace('_', ' ')}, {PROBES[r['kind']].label(r['params'])}"}

    stats_columns = (("mean", "mean"), ("CI low", "ci_low"), ("CI high", "ci_high"), ("p", "p"), ("q", "q"))
    parts = [f"<details><summary>Every row of the summary ({len(rows)} rows × {len(SUMMARY_COLUMNS)} columns; "
             "the crossed CI is the one the answers report)</summary>" + summary_table(rows) + "</details>"]
    program = [words(r) for r in by_program(results)]
    if program:
        parts.append(f"<details><summary>Per instrument ({len(program)} rows; 95 % piece CI, t over the program's pieces, "
                     "blank with one piece)</summary>" + rows_table(program, (("model", "model"), ("probe", "probe"),
                     ("instrument", "instrument"), ("pieces", "n_pieces"), *stats_columns), table_id="per-instrument")
                     + "</details>")
    register = [words(r) for r in by_register(results)]
    if register:
        parts.append(f"<details><summary>By register ({len(register)} rows; 95 % crossed CI)</summary>" + rows_table(
            register, (("model", "model"), ("probe", "probe"), ("register", "register"), ("MIDI", "midi"),
                       ("pieces", "n_pieces"), *stats_columns), table_id="by-register") + "</details>")
    return '<section id="tables"><h2>Tables</h2>' + "\n".join(parts) + "</section>"


def about_section(md: str) -> str:
    """What was run (the first paragraph of ``summary.md``), any warning, and how to read the numbers (collapsed)."""
    head = md.split("\n## ", 1)[0]
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", head) if p.strip() and not p.startswith("# ")]
    warnings = [line for line in md.splitlines() if line.startswith("**Warning:**")]
    first, rest = (paragraphs[0], paragraphs[1:]) if paragraphs else ("", [])
    return ('<section id="about"><h2>About this sweep</h2>' + markdown_to_html(first + "\n\n" + "\n\n".join(warnings))
            + "<details><summary>How to read the numbers</summary>" + markdown_to_html("\n\n".join(rest))
            + "</details></section>")


def players(son: sonify.Sonified) -> str:
    """Three audio players (original, permuted, what moved) with the WAVs embedded, one common gain."""
    gain = sonify.triple_gain(son.triple)
    cells = []
    for part, label in PLAYERS:
        wav = sonify.wav_bytes(getattr(son.triple, part), sr=son.triple.sr, gain=gain)
        cells.append(f'<div><strong>{label}</strong><audio controls preload="auto">'
                     f'<source src="{data_uri("audio/wav", wav)}" type="audio/wav"></audio></div>')
    return f'<div class="players">{"".join(cells)}</div>'


def examples_section(results: Results, *, n_steps: int) -> str:
    """A/B players of every finished example cell (or a note saying why there is no audio)."""
    blocks = []
    for cell in results.cells:
        if cell["kind"] != "example" or cell["id"] not in results.finished:
            continue
        record, arrays = results.finished[cell["id"]]
        r = record["result"]
        title = (f"{html.escape(cell['model'])}: harmonics 1–{cell['params'].get('n_harmonics', '?')} of bin {r.get('group')} "
                 f"shuffled (of {r.get('n_draws')} draws, the one changing the output most; mean |ΔY| = "
                 f"{float(r.get('output_l1', np.nan)):.3g})")
        son, note = sonify.sonify_example(record, arrays, n_steps=n_steps)
        body = players(son) if son is not None else ""
        blocks.append(f'<section class="example" id="example-{html.escape(cell["id"])}"><h3>{title}</h3>{body}'
                      f'<p class="note">{html.escape(note)}</p></section>')
    if not blocks:
        return '<p class="note">No finished example cell in this sweep.</p>'
    return "\n".join(blocks)


def render_html(workdir: epath.PathLike, *, n_steps: int = 300) -> str:
    """The page of ``workdir`` (a sweep workdir) as a string; ``n_steps`` bounds the gradient
    steps of each example's resynthesis (Basic Pitch's frontend)."""
    workdir = epath.Path(workdir)
    results = load_results(workdir)
    rows = summary_rows(results)
    md_path = workdir / "summary.md"
    md = md_path.read_text() if md_path.exists() else None
    figures = drawn_figures(workdir, md)
    md = md or summary_markdown(rows, results, [], [])
    models = list(dict.fromkeys(c["model"] for c in results.cells))
    body = "\n".join(question_section(workdir, s, models) for s in questions.sections(results, rows, figures))
    title = f"amt_jax sweep {html.escape(str(results.config.get('name', '')))}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{_STYLE}</style></head>
<body>
<h1>{title}</h1>
{about_section(md)}
{body}
<section id="listen"><h2>Listen: example draws</h2>
<p class="note">A is the clip the model read, B audio whose features are the permuted πX, B − A what moved
(one common gain per row). Basic Pitch: B by gradient descent on the waveform through its frontend; trained
variants: librosa's inverse CQT; synthetic features: an oscillator per bin.</p>
{examples_section(results, n_steps=n_steps)}
{"".join(figure_html(workdir, stem, models) for stem in figures if questions.figure_name(stem) in questions.LISTEN_FIGURES)}
</section>
{tables_section(results, rows)}
</body></html>
"""


def write_html(workdir: epath.PathLike, *, n_steps: int = 300) -> epath.Path:
    """Write :func:`render_html` to ``workdir/report.html`` atomically; returns the path."""
    path = epath.Path(workdir) / REPORT_FILE
    amt_io.atomic_write(path, render_html(workdir, n_steps=n_steps))
    return path

"""The study's questions, and which rows, cells and figures of a sweep answer each: the report page
(:mod:`amt_jax.report.html`) gives one section per question.

:data:`QUESTIONS` groups the probe table's kinds (:mod:`amt_jax.sweep.probes`) and figures
(:data:`amt_jax.report.figures.FIGURES`) by the question they answer; the config's own
``questions`` (the Benjamini–Hochberg families) are named in the section that holds their kinds.
Rows of the config's ``control_models`` (e.g. random weights) answer the controls' question. The
answer sentences are the findings sentences of the probe table (:mod:`amt_jax.sweep.findings`) or,
for kinds without one, of :func:`amt_jax.report.summary.findings`: nothing here computes a number.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from amt_jax.models import registry
from amt_jax.report.captions import CAPTIONS
from amt_jax.report.results import Results, as_cell
from amt_jax.report.summary import findings
from amt_jax.sweep.findings import fmt
from amt_jax.sweep.probes import PROBES


@dataclass(frozen=True)
class Question:
    """One question of the study: its section id, heading, the question in words, the kinds that
    answer it (the first kind a model has gives its headline) and the figures that show it."""

    key: str
    title: str
    question: str
    kinds: tuple[str, ...]
    figures: tuple[str, ...]


QUESTIONS: tuple[Question, ...] = (
    Question("reliance", "Harmonic reliance",
             "Does a key's output rely on its own harmonics: more than the keys sounding with it (the same draws), more "
             "than a sham comb at inharmonic offsets, and more than as many random bins?",
             ("harmonic_swap", "harmonic", "harmonic_control"), ("harmonic_reliance", "harmonic")),
    Question("cues", "Cue combination: the missing fundamental",
             "When a note's fundamental or its harmonics are replaced, does the model recover the note from the other "
             "cue, and do the two cues add (the factorial interaction)?", ("factorial",), ("factorial",)),
    Question("resolution", "Sub-semitone resolution and tuning",
             "Does the output depend on detail finer than a semitone, and what does mistuning the axis by one bin cost?",
             ("pooling_all", "pooling_all_f1", "shift_down", "shift_up", "microtonal_all", "pooling_one", "microtonal_one"),
             ("resolution", "microtonal")),
    Question("register", "Register, instruments and the extreme keys",
             "Do the answers hold in the low, middle and high register and for every instrument, and which keys at the "
             "keyboard's ends does the model hear?", ("probe_keys",), ("registers", "per_instrument", "edge_frequencies")),
    Question("noise", "Spectral noise and bands",
             "How much does the output change when the spectrum is shuffled or replaced by noise, and which bands matter?",
             ("random_spectral", "noise"), ("random_spectral", "noise")),
    Question("cross_method", "Cross-method agreement",
             "Do explanation methods (gradients, integrated gradients, occlusion) agree on the same groups of bins?",
             ("cross_method",), ()),
    Question("controls", "Controls: random weights",
             "Do the effects come from the learned weights, or does the same architecture with random weights show "
             "them too?", (), ()),
)
LISTEN_FIGURES = ("example",)  # shown beside the audio of the example draws, not in a question's section
OTHER = Question("other", "Other probes", "Probes of this sweep that answer none of the questions above.", (), ())


@dataclass
class Section:
    """What the page shows for one question: the config's BH families it holds, one headline sentence
    per model, every other findings sentence, and its figures (file stems)."""

    question: Question
    families: list[str] = field(default_factory=list)
    headlines: list[str] = field(default_factory=list)
    others: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.headlines or self.figures)


def figure_name(stem: str) -> str | None:
    """The figure (key of :data:`CAPTIONS`) a file stem belongs to: itself, or ``<name>_<model slug>``."""
    if stem in CAPTIONS:
        return stem
    return max((k for k in CAPTIONS if stem.startswith(f"{k}_")), key=len, default=None)


def sentence(row: dict) -> str:
    """The findings sentence of a summary row, naming its model: the probe table's sentence for its
    kind, else the summary's generic one."""
    finding = PROBES[row["family"]].finding
    text = finding(row) if finding is not None else (findings([row]) or [""])[0]
    name = registry.label(row["model"])
    return text if not text or row["model"] in text or registry.title(row["model"]) in text else f"{name}: {text}"


def _question_of_kind(kind: str) -> Question:
    return next((q for q in QUESTIONS if kind in q.kinds), OTHER)


def _headline_row(rows: list[dict], kinds: tuple[str, ...], params: dict) -> dict | None:
    """The row of the first of ``kinds`` present: the last of its settings without a variant (the
    largest h) among those the probe table shows per instrument (the whole axis of random_spectral)."""
    for kind in kinds or tuple(dict.fromkeys(r["family"] for r in rows)):
        mine = [r for r in rows if r["family"] == kind and "variant" not in params[r["cell"]]]
        shown = PROBES[kind].per_instrument
        mine = [r for r in mine if shown(params[r["cell"]])] or mine if shown is not None else mine
        said = [r for r in mine if sentence(r)]
        if said:
            return said[-1]
    return None


def _described(results: Results, model: str, kinds) -> list[str]:
    """A sentence for each finished cell of ``model`` of row-less ``kinds`` (its probe's one-line description)."""
    out = []
    for kind in kinds:
        for cell, record, _ in results.of(model, kind):
            probe = as_cell(cell).probe
            if not probe.row:
                out.append(f"{registry.label(model)}, {probe.label(cell['params'])}: {probe.describe(record['result'])}.")
    return out


def register_sentences(results: Results) -> list[str]:
    """Per model, the reliance contrast of its largest h by register (the summary's by-register
    table): each third's number, crossed interval and pieces, read against 0."""
    from amt_jax.report.summary import by_register

    rows = [r for r in by_register(results) if r["kind"] == "harmonic_swap" and "variant" not in r["params"]]
    last = {r["model"]: r["cell"] for r in rows}  # the last cell in sweep order: the largest h
    out = []
    for model, cell in last.items():
        mine = [r for r in rows if r["cell"] == cell]
        parts = "; ".join(f"{r['register']} (MIDI {r['midi']}) {fmt(r['mean'])} [{fmt(r['ci_low'])}, {fmt(r['ci_high'])}] "
                          f"over {r['n_pieces']} pieces" for r in mine)
        out.append(f"{registry.label(model)}: the harmonic reliance contrast ({PROBES['harmonic_swap'].label(mine[0]['params'])}) "
                   f"by register, read against 0 (crossed: draws and pieces random): {parts}.")
    return out


def sections(results: Results, rows: list[dict], figures: list[str]) -> list[Section]:
    """One :class:`Section` per question with something to show, in :data:`QUESTIONS` order (then
    :data:`OTHER`): ``rows`` are the summary rows, ``figures`` the figure file stems drawn."""
    config = results.config
    controls = [spec for spec, _ in config.get("control_models") or ()]
    params = {c["id"]: c["params"] for c in results.cells}
    out = {q.key: Section(q) for q in (*QUESTIONS, OTHER)}
    for name, kinds in config.get("questions") or ():
        out[_question_of_kind(kinds[0]).key].families.append(name)
    for row in rows:
        key = "controls" if row["model"] in controls else _question_of_kind(row["family"]).key
        out[key].others.append(row)
    for section in out.values():
        mine, section.others = section.others, []
        models = dict.fromkeys(r["model"] for r in mine)
        kinds = [section.question.kinds] if section.question.kinds or section.question.key != "controls" else \
            [q.kinds for q in QUESTIONS if q.kinds]  # a control model: its answer to each question
        headline = [_headline_row([r for r in mine if r["model"] == m], k, params) for m in models for k in kinds]
        section.headlines = [sentence(r) for r in headline if r is not None]
        section.others = [s for s in (sentence(r) for r in mine if r not in headline) if s]
    for model in dict.fromkeys(c["model"] for c in results.cells):
        for kind in dict.fromkeys(c["kind"] for c in results.cells):
            key = "controls" if model in controls else _question_of_kind(kind).key
            if kind != "example":
                out[key].headlines += _described(results, model, (kind,))
    out["register"].headlines[:0] = register_sentences(results)
    for stem in figures:
        name = figure_name(stem)
        if name in LISTEN_FIGURES:
            continue
        owner = next((q for q in QUESTIONS if name in q.figures), OTHER)
        out[owner.key].figures.append(stem)
    return [s for s in out.values() if not s.empty()]

"""The self-contained report page (``figures --workdir DIR --html``), read as text and rendered in
headless Chromium: every image decodes, every audio element has a playable, loaded source, the page
is organised by the study's questions (issue 27: no heading repeats, no empty section, every figure
captioned in words, the answers with their intervals' kind, the full tables collapsed)."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from amt_jax import report
from amt_jax.__main__ import main
from amt_jax.report import html as report_html

CONFIG = '''from amt_jax.sweep import SweepConfig

def get_config():
    return SweepConfig(name="html", models=("planted-b3",), data="synthetic", n_clips=2, seed=0, families=("harmonic",),
                       harmonics=(2,), n_permutations=8, chunk_size=8)
'''
CHROMIUM = shutil.which("chromium")
NO_CHROMIUM = "chromium is not installed (Debian package 'chromium'; .ci/run installs it): page not rendered"
# Runs in the rendered copy only: checks each <img> and <audio>, then writes the results into the DOM.
CHECK_SCRIPT = r"""<script>
window.addEventListener("load", function () {
  var images = Array.from(document.images).map(function (i) {
    return {alt: i.alt, ok: i.complete && i.naturalWidth > 0, width: i.naturalWidth}; });
  var audio = Array.from(document.querySelectorAll("audio")).map(function (a) {
    return new Promise(function (resolve) {
      var source = a.querySelector("source");
      var done = function (how) { resolve({how: how, can_play: a.canPlayType(source ? source.type : ""),
        ready_state: a.readyState, duration: a.duration, error: a.error ? a.error.code : null}); };
      if (a.readyState >= 1) { done("ready"); return; }
      a.addEventListener("loadedmetadata", function () { done("loadedmetadata"); });
      if (source) source.addEventListener("error", function () { done("error"); });
      setTimeout(function () { done("timeout"); }, 5000);
      a.load();
    }); });
  var headings = Array.from(document.querySelectorAll("h1, h2, h3, h4, h5, h6")).map(function (h) {
    var next = h.nextElementSibling;  // nothing under a heading: the end, or a heading of its level or above
    var empty = !next || (/^H[1-6]$/.test(next.tagName) && Number(next.tagName[1]) <= Number(h.tagName[1]));
    return {text: h.textContent.trim(), empty: empty}; });
  var sections = Array.from(document.querySelectorAll("section")).map(function (s) {
    var heading = s.querySelector("h1, h2, h3, h4, h5, h6");
    var text = s.textContent.replace(heading ? heading.textContent : "", "").trim();
    return {id: s.id, heading: heading ? heading.textContent.trim() : "", text: text.length,
            media: s.querySelectorAll("img, audio, table").length}; });
  var figures = Array.from(document.querySelectorAll("figure")).map(function (f) {
    var caption = f.querySelector("figcaption");
    return {id: f.id, caption: caption ? caption.textContent.trim() : "", images: f.querySelectorAll("img").length}; });
  Promise.all(audio).then(function (audio) {
    var pre = document.createElement("pre");
    pre.id = "amt-check";
    pre.textContent = JSON.stringify({images: images, audio: audio, headings: headings, sections: sections,
                                      figures: figures});
    document.body.appendChild(pre);
  });
});
</script>"""


def _chromium(tmp_path, *args):
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.glob('chromium-profile-*')))}"
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
               f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=180)


def render_checks(page: Path, tmp_path: Path) -> dict:
    """Load a copy of ``page`` (same policy, plus inline scripts for the check) and return the checks."""
    text = page.read_text()
    assert report_html.CSP in text
    checked = tmp_path / f"checked_{page.name}"
    checked.write_text(text.replace(report_html.CSP, report_html.CSP + "; script-src 'unsafe-inline'")
                       .replace("</body>", CHECK_SCRIPT + "</body>"))
    out = _chromium(tmp_path, "--virtual-time-budget=15000", "--dump-dom", checked.as_uri())
    found = re.search(r'<pre id="amt-check">(.*?)</pre>', out.stdout, re.S)
    assert found, f"no check results in the DOM; chromium stderr: {out.stderr[-2000:]}"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("html")
    (root / "html_config.py").write_text(CONFIG)
    workdir = root / "sweep"
    assert main(["sweep", str(root / "html_config.py"), "--workdir", str(workdir), "--no-progress"]) == 0
    assert main(["figures", "--workdir", str(workdir), "--html"]) == 0
    return workdir


def test_page_is_one_self_contained_file(workdir):
    page = workdir / "report.html"
    text = page.read_text()
    assert not [p for p in workdir.iterdir() if p.name.startswith(".")]  # written atomically, no temporary left
    urls = re.findall(r'(?:src|href)="([^"]*)"', text)
    assert urls and all(u.startswith("data:") or u.startswith("#") for u in urls), [u[:40] for u in urls]
    assert not re.search(r"https?://|url\(", text)
    pngs = sorted(p.stem for p in (workdir / "figures").glob("*.png"))
    assert pngs == ["example", "harmonic"]
    assert sorted(re.findall(r'<figure id="figure-([^"]+)"', text)) == pngs  # every figure, once
    assert text.count("<audio") == 3 and text.count('type="audio/wav"') == 3  # original, permuted, what moved
    rows = report.summary_rows(report.load_results(workdir))
    assert [r["cell"] for r in rows] == ["planted-b3__harmonic_h2", "planted-b3__harmonic_control_h2"]
    assert all(f"<td>{r['cell']}</td>" in text for r in rows)
    assert "unit of inference is the piece" in text and "## Findings" not in text and "oscillator" in text


def page_problems(checks: dict) -> list[str]:
    """What the rendered page gets wrong: a repeated heading, an empty section, a figure without a
    caption in words (none, or its file name), an image that does not decode, an audio that does not load."""
    texts = [h["text"] for h in checks["headings"]]
    problems = [f"heading {h!r} repeats" for h in sorted(set(texts)) if texts.count(h) > 1]
    problems += [f"heading {h['text']!r} has nothing under it" for h in checks["headings"] if h["empty"]]
    problems += [f"section {s['id'] or s['heading']!r} is empty" for s in checks["sections"]
                 if s["text"] < 20 and not s["media"]]
    for f in checks["figures"]:
        stem = f["id"].removeprefix("figure-")
        if len(f["caption"]) < 40 or f["caption"] in (stem, f"{stem}.png") or f["images"] != 1:
            problems.append(f"figure {stem!r}: caption {f['caption']!r}")
    problems += [f"image {i['alt'][:30]!r} does not decode" for i in checks["images"] if not (i["ok"] and i["width"] > 0)]
    problems += [f"audio does not load: {a}" for a in checks["audio"]
                 if not (a["ready_state"] >= 1 or (a["duration"] or 0) > 0) or a["error"] is not None]
    return problems


@pytest.fixture(scope="module")
def tiny_page(tiny_sweep):
    workdir = tiny_sweep[0]
    assert main(["figures", "--workdir", str(workdir), "--html"]) == 0
    return workdir / "report.html"


QUESTION_SECTIONS = ("q-reliance", "q-cues", "q-resolution", "q-register", "q-noise")


def test_report_gives_one_section_per_question(tiny_page):
    text = tiny_page.read_text()
    for key in QUESTION_SECTIONS:
        section = text.split(f'<section class="question" id="{key}">')[1].split("</section>")[0]
        assert "<strong>Question.</strong>" in section and "<strong>Answer.</strong>" in section, key
        answer = section.split('<div class="answer">')[1].split("</div>")[0]
        assert "crossed" in answer and "[" in answer, (key, answer)  # a number, its interval and the interval's kind
        assert "<figure" in section and "<figcaption>" in section, key
    reliance = text.split('id="q-reliance"')[1].split("</section>")[0]
    assert "sham comb" in reliance and "untouched keys sounding with it" in reliance  # the controls it is read against
    assert text.count("Harmonic reliance (h=4") == 2  # one headline per model; the other findings collapsed
    assert "<summary>Every other finding of this question" in reliance
    tables = text.split('<section id="tables">')[1]
    assert "<details><summary>Every row of the summary" in tables and "<details><summary>By register" in tables
    assert tables.count('<table id="summary">') == 1 and '<table id="by-register">' in tables
    assert "<h2>Findings</h2>" not in text and "<h3>Findings</h3>" not in text
    assert re.findall(r'<figure id="figure-([^"]+)"', text.split('<section id="listen">')[1]) == ["example"]


def test_report_tables_include_the_per_instrument_table(tiny_sweep):
    """With programs on the clips (real data), the per-instrument table is on the page, collapsed."""
    import test_plots_figures

    from amt_jax.report import html as page

    results = test_plots_figures.with_programs(report.load_results(tiny_sweep[0]))
    out = page.tables_section(results, report.summary_rows(results))
    assert "<details><summary>Per instrument" in out and '<table id="per-instrument">' in out
    assert "Acoustic Grand Piano" in out


@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
def test_question_page_renders_without_repeats_empty_sections_or_uncaptioned_figures(tiny_page, tmp_path):
    checks = render_checks(tiny_page, tmp_path)
    assert not page_problems(checks), "\n".join(page_problems(checks))
    assert {s["id"] for s in checks["sections"]} >= set(QUESTION_SECTIONS) | {"listen", "tables"}
    assert len(checks["figures"]) >= 9 and len(checks["audio"]) == 3


def test_page_checks_can_fail():
    checks = {"headings": [{"text": "Findings", "empty": False}, {"text": "Findings", "empty": False},
                           {"text": "Table", "empty": True}], "sections": [{"id": "table", "heading": "Table", "text": 0, "media": 0}],
              "figures": [{"id": "figure-harmonic", "caption": "harmonic.png", "images": 1}],
              "images": [{"alt": "x", "ok": False, "width": 0}],
              "audio": [{"ready_state": 0, "duration": None, "error": 4}]}
    found = "\n".join(page_problems(checks))
    for what in ("heading 'Findings' repeats", "heading 'Table' has nothing under it", "section 'table' is empty", "figure 'harmonic'", "does not decode",
                 "audio does not load"):
        assert what in found, found


def test_markdown_subset():
    out = report_html.markdown_to_html("# Top\n\nSee `x` and **y** in [fig](figures/a.png).\n\n| a |\n|---|\n\n## Figures\n\n- [a](figures/a.png)\n")
    assert out == '<p>See <code>x</code> and <strong>y</strong> in <a href="#figure-a">fig</a>.</p>'


@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
def test_page_renders_in_chromium_with_every_image_and_audio_loaded(workdir, tmp_path):
    checks = render_checks(workdir / "report.html", tmp_path)
    assert len(checks["images"]) == 2 and all(i["ok"] and i["width"] > 300 for i in checks["images"]), checks["images"]
    assert len(checks["audio"]) == 3
    for a in checks["audio"]:
        assert a["can_play"] in ("maybe", "probably") and a["ready_state"] >= 1 and a["error"] is None, a
        assert a["duration"] == pytest.approx(32 * 1024 / 22050, rel=1e-3)  # 32 frames of 1024 samples
    shot = tmp_path / "report.png"
    out = _chromium(tmp_path, "--window-size=1280,2400", f"--screenshot={shot}", (workdir / "report.html").as_uri())
    assert shot.exists(), out.stderr[-2000:]
    import matplotlib.pyplot as plt

    image = plt.imread(shot)
    assert image.shape[:2] == (2400, 1280) and np.std(image[..., :3]) > 0.05


@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
def test_check_fails_on_a_broken_image_and_audio(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text(f'<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="{report_html.CSP}">'
                    '</head><body><img alt="bad" src="data:image/png;base64,AAAA"><audio controls>'
                    '<source src="data:audio/wav;base64,AAAA" type="audio/wav"></audio></body></html>')
    checks = render_checks(page, tmp_path)
    assert checks["images"] == [{"alt": "bad", "ok": False, "width": 0}]
    assert checks["audio"][0]["ready_state"] == 0 and checks["audio"][0]["how"] in ("error", "timeout")


def test_page_shows_the_figures_of_the_last_run_only(tmp_path):
    """A figure file an older run left (e.g. the noise response once drawn as edge_frequencies) is not shown."""
    from etils import epath

    (tmp_path / "figures").mkdir()
    for stem in ("harmonic", "edge_frequencies_old"):
        (tmp_path / "figures" / f"{stem}.png").write_bytes(b"")
    md = "# Sweep\n\n## Figures\n\n- [harmonic](figures/harmonic.png) ([pdf](figures/harmonic.pdf))\n"
    assert report_html.drawn_figures(epath.Path(tmp_path), md) == ["harmonic"]
    assert report_html.drawn_figures(epath.Path(tmp_path), None) == ["edge_frequencies_old", "harmonic"]

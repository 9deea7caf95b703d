"""The self-contained report page (``figures --workdir DIR --html``), read as text and rendered in
headless Chromium: every image decodes, every audio element has a playable, loaded source."""

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
  Promise.all(audio).then(function (audio) {
    var pre = document.createElement("pre");
    pre.id = "amt-check";
    pre.textContent = JSON.stringify({images: images, audio: audio});
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
    assert sorted(re.findall(r'<img alt="([^"]+)"', text)) == pngs  # every figure, once
    assert text.count("<audio") == 3 and text.count('type="audio/wav"') == 3  # original, permuted, what moved
    rows = report.summary_rows(report.load_results(workdir))
    assert [r["cell"] for r in rows] == ["planted-b3__harmonic_h2", "planted-b3__harmonic_control_h2"]
    assert all(f"<td>{r['cell']}</td>" in text for r in rows)
    assert "unit of inference is the piece" in text and "## Findings" not in text and "oscillator" in text


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

"""The cross-method plot primitives' contract: ``ax=None`` draws on the current axes, the axes
drawn on is returned, NaN keys stay blank."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from amt_jax.models import planted  # noqa: E402
from amt_jax.report import plots_methods as pm  # noqa: E402


def test_plot_primitives_draw_on_the_given_or_current_axes():
    fig, axes = plt.subplots(1, 5)
    rho = np.array([[1.0, 0.5], [0.5, 1.0]])
    assert pm.agreement_heatmap(["a", "b"], rho, rho - 0.1, rho + 0.1, ax=axes[0]) is axes[0]
    assert [t.get_text() for t in axes[0].texts] == ["0.50\n[0.40, 0.60]"] * 2
    lines = pm.cascade_curves(["none", "note_out"], {"a": [1.0, 0.4]}, {"a": [0.9, 0.2]}, {"a": [1.0, 0.6]},
                              null={"a": 0.1}, ax=axes[1]).get_lines()
    assert len(lines) == 3  # the method, its null, the legend's null entry
    np.testing.assert_array_equal(lines[1].get_ydata(), [0.1, 0.1])
    lay = planted.layout(1)
    maps = np.random.default_rng(0).normal(size=(lay.n_pitches, lay.n_bins))
    maps[3] = np.nan
    ax = pm.key_map(maps, layout=lay, ax=axes[2])
    assert np.ma.is_masked(ax.images[0].get_array()[:, 3].sum()) or ax.images[0].get_array().mask[:, 3].all()
    pm.harmonic_profiles({"a": [3.0, 1.0, -0.5]}, ax=axes[3])
    pm.stack_importance([0.5, 1, 2], [0.1, 0.3, 0.2], [0.05, 0.2, 0.1], [0.15, 0.4, 0.3], ax=axes[4])
    plt.sca(axes[3])
    assert pm.harmonic_profiles({"b": [1.0, 2.0]}) is axes[3]
    plt.close(fig)

"""Tests for gfplib.widgets (static vs live mode) and the plotting functions it wraps (gfplib.viz)."""
from __future__ import annotations

import matplotlib

matplotlib.use("agg")

import ipywidgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from gfplib import degradation as D  # noqa: E402
from gfplib import viz, widgets  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_static_mode_calls_fn_once_with_defaults(monkeypatch, capsys):
    monkeypatch.setenv("GFPLIB_STATIC_WIDGETS", "1")
    calls = []
    out = widgets.interact(lambda a, b: calls.append((a, b)),
                           a=ipywidgets.FloatSlider(value=0.25, min=0, max=1),
                           b=ipywidgets.Dropdown(options=["x", "y"], value="y"))
    assert out is None
    assert calls == [(0.25, "y")]
    line = capsys.readouterr().out
    assert "Jupyter" in line and "a, b" in line and line.count("\n") == 1


def test_live_mode_builds_and_displays_widget(monkeypatch):
    monkeypatch.delenv("GFPLIB_STATIC_WIDGETS", raising=False)
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    calls = []
    slider = ipywidgets.IntSlider(value=3, min=0, max=10)
    assert widgets.interact(lambda n: calls.append(n), n=slider) is None
    assert len(shown) == 1 and isinstance(shown[0], ipywidgets.VBox)
    controls, output = shown[0].children
    assert isinstance(output, ipywidgets.Output)
    assert slider in controls.children[0].children
    assert calls == [3]  # interactive_output draws the default once...
    slider.value = 7
    assert calls == [3, 7]  # ... and redraws on every change


def test_interact_rejects_bad_controls(monkeypatch):
    monkeypatch.setenv("GFPLIB_STATIC_WIDGETS", "1")
    with pytest.raises(TypeError, match="control 'a'"):
        widgets.interact(lambda a: None, a=3)
    with pytest.raises(ValueError, match="at least one"):
        widgets.interact(lambda: None)
    with pytest.raises(TypeError, match="callable"):
        widgets.interact(42, a=ipywidgets.IntSlider())


def test_degradation_widget_static_draws_default_setting(monkeypatch, capsys):
    monkeypatch.setenv("GFPLIB_STATIC_WIDGETS", "1")
    drawn = []
    real = viz.plot_degradation_steps

    def spy(*args, **kwargs):
        drawn.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(viz, "plot_degradation_steps", spy)
    widgets.degradation_widget(D.demo_face(64), quality=80)
    assert len(drawn) == 1
    kw = drawn[0]
    # σ defaults: 3 and 1 pixels of a 512² face, scaled to 64²
    assert (kw["sigma_x"], kw["sigma_y"], kw["scale"], kw["noise"], kw["quality"]) == (0.375, 0.125, 4.0, 10.0, 80)
    assert kw["theta"] == pytest.approx(np.radians(30.0))
    assert kw["kernel_size"] == 7  # toy-world window for a 64² face
    assert "live controls" in capsys.readouterr().out
    with pytest.raises(ValueError, match="sigma_x=3.0 is outside"):
        widgets.degradation_widget(D.demo_face(64), sigma_x=3.0)


def test_degradation_widget_live_sliders_use_official_ranges(monkeypatch):
    monkeypatch.delenv("GFPLIB_STATIC_WIDGETS", raising=False)
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    widgets.degradation_widget(D.demo_face(512), sigma_x=2.0, sigma_y=2.0)
    sliders = {w.description: w for row in shown[0].children[0].children for w in row.children}
    assert set(sliders) == {"σx", "σy", "θ (deg)", "scale r", "noise δ", "JPEG q"}
    assert (sliders["σx"].min, sliders["σx"].max) == (0.1, 10.0) and sliders["σy"].value == 2.0
    assert (sliders["scale r"].min, sliders["scale r"].max) == (0.8, 8.0)
    assert (sliders["noise δ"].min, sliders["noise δ"].max) == (0.0, 20.0)
    assert (sliders["JPEG q"].min, sliders["JPEG q"].max) == (60, 100)


def test_plot_degradation_steps_panels():
    face = D.demo_face(64)
    fig = viz.plot_degradation_steps(face, sigma_x=1.0, sigma_y=0.5, theta=0.3, scale=2.0, noise=5.0, quality=70)
    assert isinstance(fig, Figure) and len(fig.axes) == 14
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[3].endswith("32×32 px")
    # the PSNR in the last title is that of the replayed degradation
    p = D.DegradationParams(kernel_size=7, kernel_type="aniso", sigma_x=1.0, sigma_y=0.5, theta=0.3, scale=2.0,
                            noise_sigma=5.0, noise_seed=0, jpeg_quality=70)
    assert f"PSNR {viz.psnr(D.apply_degradation(face, p), face):.2f} dB" in titles[6]


def test_draw_pipeline_and_show_images():
    face = D.demo_face(64)
    fig = viz.draw_pipeline(face, face, face)
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    for term in ("Degradation removal module", "latent code mapping", "Generative facial prior", "CS-SFT",
                 "facial component", "identity preserving", "pyramid restoration"):
        assert term in texts
    assert len(fig.axes[0].images) == 3
    assert len(viz.draw_pipeline().axes[0].images) == 0
    fig = viz.show_images([face, face[..., 0]], ["a", "b"], ncols=1)
    assert len(fig.axes) == 2 and fig.axes[1].get_title() == "b"
    with pytest.raises(ValueError, match="titles"):
        viz.show_images([face], ["a", "b"])


def test_psnr():
    a = np.zeros((4, 4, 3), np.float32)
    b = np.full((4, 4, 3), 0.1, np.float32)
    assert viz.psnr(a, b) == pytest.approx(20.0, abs=1e-4)
    assert viz.psnr(a, a) == float("inf")
    with pytest.raises(ValueError, match="shape"):
        viz.psnr(a, b[:2])

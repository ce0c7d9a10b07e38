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
from gfplib.data import demo_face  # noqa: E402


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
    widgets.degradation_widget(demo_face(64), quality=80)
    assert len(drawn) == 1
    kw = drawn[0]
    # σ defaults: 3 and 1 pixels of a 512² face, scaled to 64²
    assert (kw["sigma_x"], kw["sigma_y"], kw["scale"], kw["noise"], kw["quality"]) == (0.375, 0.125, 4.0, 10.0, 80)
    assert kw["theta"] == pytest.approx(np.radians(30.0))
    assert kw["kernel_size"] == 7  # toy-world window for a 64² face
    assert "live controls" in capsys.readouterr().out
    with pytest.raises(ValueError, match="sigma_x=3.0 is outside"):
        widgets.degradation_widget(demo_face(64), sigma_x=3.0)


def test_degradation_widget_live_sliders_use_official_ranges(monkeypatch):
    monkeypatch.delenv("GFPLIB_STATIC_WIDGETS", raising=False)
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    widgets.degradation_widget(demo_face(512), sigma_x=2.0, sigma_y=2.0)
    sliders = {w.description: w for row in shown[0].children[0].children for w in row.children}
    assert set(sliders) == {"σx", "σy", "θ (deg)", "scale r", "noise δ", "JPEG q"}
    assert (sliders["σx"].min, sliders["σx"].max) == (0.1, 10.0) and sliders["σy"].value == 2.0
    assert (sliders["scale r"].min, sliders["scale r"].max) == (0.8, 8.0)
    assert (sliders["noise δ"].min, sliders["noise δ"].max) == (0.0, 20.0)
    assert (sliders["JPEG q"].min, sliders["JPEG q"].max) == (60, 100)


def test_plot_degradation_steps_panels():
    face = demo_face(64)
    fig = viz.plot_degradation_steps(face, sigma_x=1.0, sigma_y=0.5, theta=0.3, scale=2.0, noise=5.0, quality=70)
    assert isinstance(fig, Figure) and len(fig.axes) == 14
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[3].endswith("32×32 px")
    # the PSNR in the last title is that of the replayed degradation
    p = D.DegradationParams(kernel_size=7, kernel_type="aniso", sigma_x=1.0, sigma_y=0.5, theta=0.3, scale=2.0,
                            noise_sigma=5.0, noise_seed=0, jpeg_quality=70)
    assert f"PSNR {viz.psnr(D.apply_degradation(face, p), face):.2f} dB" in titles[6]


def test_draw_pipeline_and_show_images():
    face = demo_face(64)
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


# ------------------------------------------------------------------ notebook 07: Gram explorer and loss weights
def _gram_setup():
    """Two 32² batches, hand-made boxes, and a seeded conv as the feature network (two 'layers')."""
    import torch

    g = torch.Generator().manual_seed(0)
    gt = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    restored = (gt + 0.3 * torch.randn(2, 3, 32, 32, generator=g)).clamp(-1, 1)
    boxes = {"left_eye": torch.tensor([[6.0, 8.0, 14.0, 16.0], [7.0, 9.0, 13.0, 15.0]]),
             "right_eye": torch.tensor([[18.0, 8.0, 26.0, 16.0], [19.0, 9.0, 25.0, 15.0]]),
             "mouth": torch.tensor([[10.0, 20.0, 22.0, 28.0], [11.0, 21.0, 21.0, 27.0]])}
    conv = torch.nn.Conv2d(3, 6, 3, padding=1)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=g))
        conv.bias.zero_()

    def feature_fn(crops, component):
        f = conv(crops)
        return {"conv": f, "pooled": torch.nn.functional.avg_pool2d(f[:, :4], 2)}  # 6 and 4 channels

    sizes = {"left_eye": 8, "right_eye": 8, "mouth": 12}
    return restored, gt, boxes, feature_fn, conv, sizes


def test_component_grams_are_the_loss_gram_matrices():
    import torch
    from torchvision.ops import roi_align

    from gfplib.losses import gram_matrix

    restored, gt, boxes, feature_fn, conv, sizes = _gram_setup()
    data = viz.component_grams(restored, gt, boxes, feature_fn, component="mouth", layer="conv", sizes=sizes,
                               face=1, channels=(2, 5))
    for img, key in ((restored, "restored"), (gt, "gt")):
        rois = torch.cat([torch.zeros(1, 1), boxes["mouth"][1:2]], dim=1)  # face 1's mouth box
        crop = roi_align(img[1:2], rois, output_size=12)
        assert torch.equal(data[f"crop_{key}"], crop[0])
        feat = conv(crop).detach()  # (1, 6, 12, 12)
        explicit = torch.einsum("bihw,bjhw->bij", feat, feat) / (6 * 12 * 12)  # normalised by c·h·w
        assert torch.allclose(data[f"gram_{key}"], explicit[0, 2:5, 2:5], atol=1e-6)
        assert torch.equal(data[f"gram_{key}"], gram_matrix(feat)[0, 2:5, 2:5])
        assert torch.equal(data[f"feat_{key}"], feat[0, 2:5])
    full = [gram_matrix(conv(roi_align(img[1:2], torch.cat([torch.zeros(1, 1), boxes["mouth"][1:2]], 1), 12)))
            .detach() for img in (restored, gt)]
    assert data["gram_l1"] == pytest.approx(float((full[0] - full[1]).abs().mean()), rel=1e-5)
    block = (full[0] - full[1])[0, 2:5, 2:5].abs().mean()
    assert data["gram_l1_block"] == pytest.approx(float(block), rel=1e-5)
    assert data["channels"] == (2, 5) and data["num_channels"] == 6
    same = viz.component_grams(gt, gt, boxes, feature_fn, component="left_eye", layer="pooled", sizes=sizes)
    assert same["gram_l1"] == 0.0 and same["gram_restored"].shape == (4, 4)


def test_component_grams_reject_bad_choices():
    restored, gt, boxes, feature_fn, _, sizes = _gram_setup()
    kw = dict(sizes=sizes)
    with pytest.raises(KeyError, match="unknown component 'nose'"):
        viz.component_grams(restored, gt, boxes, feature_fn, component="nose", layer="conv", **kw)
    with pytest.raises(KeyError, match="no layer 'conv9'.*'conv', 'pooled'"):
        viz.component_grams(restored, gt, boxes, feature_fn, component="mouth", layer="conv9", **kw)
    with pytest.raises(ValueError, match=r"channels \(4, 9\).*≤ 6"):
        viz.component_grams(restored, gt, boxes, feature_fn, component="mouth", layer="conv", channels=(4, 9), **kw)
    with pytest.raises(IndexError, match="face 2"):
        viz.component_grams(restored, gt, boxes, feature_fn, component="mouth", layer="conv", face=2, **kw)


def test_gram_widget_static_draws_the_default_setting(monkeypatch, capsys):
    monkeypatch.setenv("GFPLIB_STATIC_WIDGETS", "1")
    restored, gt, boxes, feature_fn, _, sizes = _gram_setup()
    calls = []
    real = viz.component_grams

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(viz, "component_grams", spy)
    widgets.gram_widget({"noisy": restored, "perfect": gt}, gt, boxes, feature_fn, sizes, component="right_eye",
                        channels=(1, 40))
    assert len(calls) == 1
    kw = calls[0]
    assert (kw["component"], kw["layer"], kw["face"], kw["channels"]) == ("right_eye", "conv", 0, (1, 6))
    fig = plt.gcf()
    assert "noisy" in fig._suptitle.get_text() and "right eye" in fig._suptitle.get_text()
    assert len(fig.axes) == 10  # 2 crops, 2 mosaics, 2 Grams, the difference, 3 colour bars
    assert "face, restoration, component, layer, channels" in capsys.readouterr().out
    with pytest.raises(KeyError, match="unknown layer"):
        widgets.gram_widget({"noisy": restored}, gt, boxes, feature_fn, sizes, layer="conv9")
    with pytest.raises(KeyError, match="unknown restoration"):
        widgets.gram_widget({"noisy": restored}, gt, boxes, feature_fn, sizes, restoration="sharp")


def test_gram_widget_live_controls(monkeypatch):
    monkeypatch.delenv("GFPLIB_STATIC_WIDGETS", raising=False)
    shown, calls = [], []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    real = viz.component_grams
    monkeypatch.setattr(viz, "component_grams", lambda *a, **kw: calls.append(kw) or real(*a, **kw))
    restored, gt, boxes, feature_fn, _, sizes = _gram_setup()
    widgets.gram_widget({"noisy": restored}, gt, boxes, feature_fn, sizes)
    ctrl = {w.description: w for row in shown[0].children[0].children for w in row.children}
    assert list(ctrl["component"].options) == ["left_eye", "right_eye", "mouth"]
    assert list(ctrl["layer"].options) == ["conv", "pooled"]
    assert (ctrl["face"].max, ctrl["channels"].max, ctrl["channels"].value) == (1, 6, (0, 6))
    ctrl["layer"].value = "pooled"  # 4 channels: the range (0, 6) is clipped to the layer
    assert (calls[-1]["layer"], calls[-1]["channels"]) == ("pooled", (0, 4))
    ctrl["channels"].value = (5, 6)
    assert calls[-1]["channels"] == (3, 4)


def test_plot_loss_terms_bars_are_weight_times_term():
    terms = {"l_pix": 0.5, "l_style": 0.02, "l_id": 1.5}
    weights = {"l_pix": 0.1, "l_style": 50.0, "l_id": 10.0, "l_gan": 0.1}
    fig = viz.plot_loss_terms(terms, weights, title="one step")
    bars = fig.axes[0].patches
    assert [b.get_width() for b in bars] == pytest.approx([0.05, 1.0, 15.0])
    title = fig.axes[0].get_title()
    assert title.startswith("one step\ntotal loss") and title.endswith("= 16.05")
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[1].startswith("l_style") and "50 × 0.02" in labels[1]
    with pytest.raises(KeyError, match="l_id"):
        viz.plot_loss_terms(terms, {"l_pix": 1.0, "l_style": 1.0})


def test_loss_term_weights_follow_generator_loss():
    """Each weighted term of generator_loss is the LossConfig field named in LOSS_TERM_WEIGHTS times the term."""
    import torch

    from gfplib.archs import FacialComponentDiscriminator, StyleGAN2Discriminator
    from gfplib.losses import COMPONENTS, LossConfig, generator_loss, generator_loss_terms
    from gfplib.perceptual import VGGConfig, VGGFeatureExtractor

    torch.manual_seed(0)
    cfg = LossConfig(pixel=0.3, pyramid=2.0, perceptual=0.7, style=3.0, gan=0.2, comp_gan=1.5, comp_style=5.0,
                     identity=4.0, identity_size=8, eye_size=8, mouth_size=12)  # all different
    g = torch.Generator().manual_seed(1)
    image, gt = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1, torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    rgbs = [torch.rand(2, 3, 16, 16, generator=g), image]
    boxes = {n: torch.tensor([[4.0 + 8 * i, 6.0, 12.0 + 8 * i, 14.0]] * 2) for i, n in enumerate(COMPONENTS)}
    id_net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 5)).requires_grad_(False).eval()  # 8² gray
    nets = dict(vgg=VGGFeatureExtractor(config=VGGConfig.toy()), net_d=StyleGAN2Discriminator(32, narrow=0.125),
                comp_ds={n: FacialComponentDiscriminator() for n in COMPONENTS}, identity_net=id_net)
    terms = generator_loss_terms(cfg, image=image, out_rgbs=rgbs, gt=gt, boxes=boxes, **nets)
    weighted = generator_loss(cfg, image=image, out_rgbs=rgbs, gt=gt, boxes=boxes, iteration=1, **nets)
    assert set(terms) == set(viz.LOSS_TERM_WEIGHTS)
    for key, value in terms.items():
        assert float(weighted[key]) == pytest.approx(getattr(cfg, viz.LOSS_TERM_WEIGHTS[key]) * float(value)), key


def test_loss_weights_widget_static_and_live(monkeypatch, capsys):
    monkeypatch.setenv("GFPLIB_STATIC_WIDGETS", "1")
    drawn = []
    real = viz.plot_loss_terms
    monkeypatch.setattr(viz, "plot_loss_terms", lambda t, w, **kw: drawn.append((t, w)) or real(t, w, **kw))
    terms, weights = {"l_pix": 0.5, "l_style": 0.02}, {"l_pix": 0.1, "l_style": 50.0}
    widgets.loss_weights_widget(terms, weights)
    assert drawn == [(terms, weights)] and plt.get_fignums()
    assert "l_pix, l_style" in capsys.readouterr().out
    with pytest.raises(ValueError, match="positive"):
        widgets.loss_weights_widget(terms, {"l_pix": 0.0, "l_style": 1.0})
    monkeypatch.delenv("GFPLIB_STATIC_WIDGETS")
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    widgets.loss_weights_widget(terms, weights)
    sliders = {w.description: w for row in shown[0].children[0].children for w in row.children}
    assert sliders["λ l_style"].value == pytest.approx(50.0) and sliders["λ l_pix"].value == pytest.approx(0.1)
    sliders["λ l_style"].value = 100.0  # moving a slider redraws with the new weight
    assert drawn[-1][1] == {"l_pix": pytest.approx(0.1), "l_style": pytest.approx(100.0)}

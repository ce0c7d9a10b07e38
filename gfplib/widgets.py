"""Interactive controls for the notebooks — live in Jupyter, one static figure when run headless.

Every widget of the series is a thin layer over a plain plotting function ``fn(**values)``: :func:`interact` builds
``ipywidgets`` controls around it. With the environment variable ``GFPLIB_STATIC_WIDGETS=1`` (set by ``make notebooks``
and ``make test``) no controls are built: ``fn`` is called once with the controls' default values, so the stored
notebook shows a real figure on GitHub and nbval has deterministic output.

``ipywidgets`` is imported only when a widget is built (it comes with the ``notebooks`` extra).
First used in ``notebooks/01_degradation.ipynb``; :func:`gram_widget` and :func:`loss_weights_widget` belong to
``notebooks/07_losses.ipynb``, :func:`cs_sft_widget` to ``notebooks/06_cs_sft.ipynb``.
"""
from __future__ import annotations

import math
import os
from typing import Any, Callable, Dict, Optional

import numpy as np

__all__ = ["STATIC_ENV", "static_mode", "interact", "build_interactive", "degradation_widget", "gram_widget",
           "loss_weights_widget", "cs_sft_controls", "cs_sft_widget"]

STATIC_ENV = "GFPLIB_STATIC_WIDGETS"


def static_mode() -> bool:
    """True when widgets should render one static figure (``GFPLIB_STATIC_WIDGETS=1``)."""
    return os.environ.get(STATIC_ENV, "") == "1"


def _ipywidgets():
    try:
        import ipywidgets
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("interactive widgets need ipywidgets: pip install 'gfplib[notebooks]' "
                          "(or set GFPLIB_STATIC_WIDGETS=1 for static figures)") from err
    return ipywidgets


def _show_result(result: Any) -> None:
    """Display what ``fn`` drew: a returned matplotlib Figure (or the current figures) via ``plt.show()``."""
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    if isinstance(result, Figure) or plt.get_fignums():
        plt.show()


def build_interactive(fn: Callable[..., Any], **controls: Any):
    """The live widget of :func:`interact` without displaying it: ``VBox([controls, output])``.

    Moving any control re-runs ``fn(**values)`` and replaces the figure in the output area.
    """
    _check_controls(fn, controls)
    widgets = _ipywidgets()

    def _draw(**values):
        _show_result(fn(**values))

    out = widgets.interactive_output(_draw, controls)
    names = list(controls.values())
    rows = [widgets.HBox(names[i:i + 3]) for i in range(0, len(names), 3)]
    return widgets.VBox([widgets.VBox(rows), out])


def _check_controls(fn: Callable[..., Any], controls: Dict[str, Any]) -> None:
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    if not controls:
        raise ValueError("interact needs at least one control")
    for name, ctrl in controls.items():
        if not hasattr(ctrl, "value") or not hasattr(ctrl, "observe"):
            raise TypeError(f"control {name!r} must be an ipywidgets control with a .value, got {type(ctrl).__name__}")


def interact(fn: Callable[..., Any], **controls: Any) -> None:
    """Show a plotting function with live ipywidgets controls (or, headless, one static figure).

    Args:
        fn: called as ``fn(**values)``; it draws a matplotlib figure (returning it is optional).
        **controls: one ipywidgets control (``FloatSlider``, ``IntSlider``, ``Dropdown``, …) per keyword argument of
            ``fn``; its ``value`` is the default setting.

    In Jupyter the widget (controls above a live output area) is displayed; with ``GFPLIB_STATIC_WIDGETS=1``,
    ``fn`` is called once with the default values and one line says that the controls appear in Jupyter. Returns
    nothing, so the figure is never displayed twice; use :func:`build_interactive` to get the widget object.
    """
    _check_controls(fn, controls)
    if static_mode():
        values: Dict[str, Any] = {name: ctrl.value for name, ctrl in controls.items()}
        print(f"[static figure of the default setting; run the notebook in Jupyter for live controls: "
              f"{', '.join(controls)}]")
        _show_result(fn(**values))
        return None
    from IPython.display import display

    display(build_interactive(fn, **controls))
    return None


def degradation_widget(gt: np.ndarray, *, sigma_x: Optional[float] = None, sigma_y: Optional[float] = None,
                       theta_deg: float = 30.0,
                       scale: float = 4.0, noise: float = 10.0, quality: int = 70, seed: int = 0,
                       size: Optional[int] = None) -> None:
    """Sliders for σx, σy, θ, scale r, noise δ and JPEG quality q over :func:`gfplib.viz.plot_degradation_steps`.

    The slider ranges are the official sampling ranges (σ of a 512² face, scaled by ``size / 512`` for other sizes).

    Args:
        gt: the clean face, ``(H, W, 3)`` RGB (H = W).
        sigma_x, sigma_y, theta_deg, scale, noise, quality: default (static) setting; the σ defaults are 3 and 1
            pixels of a 512² face, scaled to ``size``. A value outside its slider's range raises ``ValueError``.
        seed: seeds the noise field, so moving a slider changes only what it controls.
        size: face size the σ range refers to (default ``gt.shape[0]``).
    """
    from gfplib.degradation import DegradationConfig, as_float_image
    from gfplib.viz import plot_degradation_steps

    x = as_float_image(gt, "gt")
    cfg = DegradationConfig.for_size(int(size or x.shape[0]))
    w = _ipywidgets()
    style = {"description_width": "60px"}
    lo, hi = cfg.blur_sigma
    f = cfg.size / 512
    sigma_x = 3.0 * f if sigma_x is None else sigma_x
    sigma_y = 1.0 * f if sigma_y is None else sigma_y
    for name, value, (vmin, vmax) in [("sigma_x", sigma_x, cfg.blur_sigma), ("sigma_y", sigma_y, cfg.blur_sigma),
                                      ("theta_deg", theta_deg, (-180.0, 180.0)),
                                      ("scale", scale, cfg.downsample_range), ("noise", noise, cfg.noise_range),
                                      ("quality", quality, cfg.jpeg_range)]:
        if not vmin <= value <= vmax:
            raise ValueError(f"{name}={value} is outside the slider range [{vmin:g}, {vmax:g}] for {cfg.size}² faces")
    step = round((hi - lo) / 100, 4) or 0.001
    controls = dict(
        sigma_x=w.FloatSlider(value=sigma_x, min=lo, max=hi, step=step, description="σx", style=style),
        sigma_y=w.FloatSlider(value=sigma_y, min=lo, max=hi, step=step, description="σy", style=style),
        theta_deg=w.FloatSlider(value=theta_deg, min=-180.0, max=180.0, step=5.0, description="θ (deg)", style=style),
        scale=w.FloatSlider(value=scale, min=cfg.downsample_range[0], max=cfg.downsample_range[1], step=0.1,
                            description="scale r", style=style),
        noise=w.FloatSlider(value=noise, min=cfg.noise_range[0], max=cfg.noise_range[1], step=0.5,
                            description="noise δ", style=style),
        quality=w.IntSlider(value=quality, min=int(cfg.jpeg_range[0]), max=int(cfg.jpeg_range[1]), step=1,
                            description="JPEG q", style=style),
    )

    def fn(sigma_x, sigma_y, theta_deg, scale, noise, quality):
        return plot_degradation_steps(x, sigma_x=sigma_x, sigma_y=sigma_y, theta=math.radians(theta_deg),
                                      scale=scale, noise=noise, quality=quality, seed=seed,
                                      kernel_size=cfg.kernel_size)

    return interact(fn, **controls)


def _clip_channels(channels, width: int) -> tuple:
    """A channel range ``(start, stop)`` clipped to a layer of ``width`` channels (at least one channel)."""
    stop = min(int(channels[1]), width)
    return min(int(channels[0]), stop - 1), stop


def gram_widget(restorations: Dict[str, Any], gt, boxes, feature_fn: Callable[..., Any], sizes: Dict[str, int], *,
                face: int = 0, restoration: Optional[str] = None, component: str = "left_eye",
                layer: Optional[str] = None, channels: tuple = (0, 16)) -> None:
    """The Gram-matrix explorer of notebook 07, over :func:`gfplib.viz.component_grams` and
    :func:`gfplib.viz.plot_component_grams`: a face, a restoration ŷ, a component, a feature layer, a channel range.

    Args:
        restorations: name → ``(B, 3, H, W)`` restorations ŷ in [-1, 1] (e.g. ``{'blurred y': …, 'x': …}``).
        gt: ``(B, 3, H, W)`` ground truth y.
        boxes: component name → ``(B, 4)`` boxes.
        feature_fn: ``feature_fn(crops, component)`` → ``{layer: (N, C, h, w)}``.
        sizes: component name → crop side (:meth:`gfplib.losses.LossConfig.component_sizes`).
        face, restoration, component, layer, channels: the default (static) setting; ``restoration`` and ``layer``
            default to the first of their kind. ``channels`` = (start, stop) is clipped to the chosen layer's width.
    """
    import torch

    from gfplib.losses import component_crops
    from gfplib.viz import component_grams, plot_component_grams

    if not restorations:
        raise ValueError("restorations is empty: give at least one restored batch, e.g. {'blurred y': ...}")
    restoration = next(iter(restorations)) if restoration is None else restoration
    if restoration not in restorations:
        raise KeyError(f"unknown restoration {restoration!r}; choose one of {list(restorations)}")
    if component not in sizes:
        raise KeyError(f"unknown component {component!r}; choose one of {list(sizes)}")
    with torch.no_grad():  # one forward to learn the layer names and widths
        crop = component_crops(gt[:1], {component: boxes[component][:1]}, {component: sizes[component]})[component]
        widths = {name: int(f.shape[1]) for name, f in feature_fn(crop, component).items()}
    layer = next(iter(widths)) if layer is None else layer
    if layer not in widths:
        raise KeyError(f"unknown layer {layer!r}; choose one of {list(widths)}")
    w = _ipywidgets()
    style = {"description_width": "85px"}
    controls = dict(
        face=w.IntSlider(value=face, min=0, max=gt.shape[0] - 1, description="face", style=style),
        restoration=w.Dropdown(options=list(restorations), value=restoration, description="restoration ŷ",
                               style=style),
        component=w.Dropdown(options=list(sizes), value=component, description="component", style=style),
        layer=w.Dropdown(options=list(widths), value=layer, description="layer", style=style),
        channels=w.IntRangeSlider(value=_clip_channels(channels, max(widths.values())), min=0,
                                  max=max(widths.values()), description="channels", style=style),
    )

    def fn(face, restoration, component, layer, channels):
        data = component_grams(restorations[restoration], gt, boxes, feature_fn, component=component, layer=layer,
                               sizes=sizes, face=face, channels=_clip_channels(channels, widths[layer]))
        return plot_component_grams(data, label=f"ŷ = {restoration}")

    return interact(fn, **controls)


def loss_weights_widget(terms: Dict[str, float], weights: Dict[str, float], *, title: str = "") -> None:
    """Sliders (log scale) for the weights λ_k of the total loss (Eq. 9) over :func:`gfplib.viz.plot_loss_terms`.

    Args:
        terms: term key → unweighted value (:func:`gfplib.losses.generator_loss_terms`, as floats).
        weights: term key → default weight (e.g. ``{k: getattr(cfg, viz.LOSS_TERM_WEIGHTS[k]) for k in terms}``);
            each must be positive (a term with weight 0 is not computed at all).
        title: first line of the figure's title.
    """
    from gfplib.viz import plot_loss_terms

    if not terms:
        raise ValueError("terms is empty: compute them with gfplib.losses.generator_loss_terms")
    for key in terms:
        if key not in weights:
            raise KeyError(f"no weight for term {key!r}")
        if not weights[key] > 0:
            raise ValueError(f"weight of {key!r} is {weights[key]!r}; a slider needs a positive weight (a term "
                             f"with weight 0 is not computed)")
    w = _ipywidgets()
    style = {"description_width": "90px"}
    controls = {}
    for key in terms:
        e = math.log10(weights[key])
        controls[key] = w.FloatLogSlider(value=float(weights[key]), base=10, min=min(-4, math.floor(e)),
                                         max=max(3, math.ceil(e)), step=0.1, description=f"λ {key}", style=style,
                                         readout_format=".3g")
    values = {k: float(v) for k, v in terms.items()}

    def fn(**lams):
        return plot_loss_terms(values, lams, title=title)

    return interact(fn, **controls)


def cs_sft_controls(net, x, y, *, strength: float = 1.0, resolution: Optional[int] = None,
                    half: str = "modulated", face: int = 0, seed: int = 0):
    """The plotting function and the controls of :func:`cs_sft_widget`, as ``(fn, controls)`` (for tests).

    Controls: the global strength, the resolution and the half of the features to show, one on/off switch and one
    strength per SFT layer, the face. The effective strength of a layer is global × its own × on (0 or 1).
    """
    import torch

    from gfplib.sft import capture_sft_features, condition_resolutions, modulate_conditions
    from gfplib.viz import plot_cs_sft

    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"x {tuple(x.shape)} and y {tuple(y.shape)} must be batches (N, 3, H, W) of one shape")
    with torch.no_grad():
        enc = net.degradation_removal(x, return_rgb=False)
    res = condition_resolutions(enc.conditions)
    resolution = res[len(res) // 2] if resolution is None else resolution
    if resolution not in res:
        raise ValueError(f"no SFT layer at resolution {resolution!r}; choose one of {res}")
    if half not in ("modulated", "pass-through"):
        raise ValueError(f"half must be 'modulated' or 'pass-through', got {half!r}")
    if not 0 <= face < len(x):
        raise ValueError(f"face must be in [0, {len(x) - 1}], got {face}")

    def to01(t):  # (3, H, W) in [-1, 1] -> (H, W, 3) in [0, 1]
        return ((t.clamp(-1, 1) + 1) / 2).permute(1, 2, 0).numpy()

    def render(i, strengths, r):
        conds = [c[i:i + 1] for c in enc.conditions]
        with torch.no_grad(), capture_sft_features(net.stylegan_decoder, r) as feats:
            img = net.stylegan_decoder([enc.latent[i:i + 1]], modulate_conditions(conds, strengths),
                                       input_is_latent=net.input_is_latent, randomize_noise=True,
                                       generator=torch.Generator().manual_seed(seed)).image[0]
        return to01(img), feats["gan"][0], feats["out"][0]

    w = _ipywidgets()
    style = {"description_width": "80px"}
    slider = dict(min=0.0, max=1.5, step=0.05, style=style)
    controls = dict(strength=w.FloatSlider(value=strength, description="strength", **slider),
                    resolution=w.Dropdown(options=res, value=resolution, description="features at", style=style),
                    half=w.Dropdown(options=["modulated", "pass-through"], value=half, description="half",
                                    style=style))
    for r in res:
        controls[f"on_{r}"] = w.Checkbox(value=True, description=f"SFT {r}²", style=style)
    for r in res:
        controls[f"s_{r}"] = w.FloatSlider(value=1.0, description=f"s {r}²", **slider)
    controls["face"] = w.IntSlider(value=face, min=0, max=len(x) - 1, description="face", style=style)

    def fn(strength, resolution, half, face, **per_layer):
        eff = {r: strength * per_layer[f"s_{r}"] * float(per_layer[f"on_{r}"]) for r in res}
        img, gan, out = render(face, eff, resolution)
        trained, prior_only = render(face, 1.0, resolution)[0], render(face, 0.0, resolution)[0]
        c = gan.shape[0] // 2 if net.stylegan_decoder.sft_half else 0  # CS-SFT: channels [0, C/2) pass through
        sl = slice(0, c) if half == "pass-through" else slice(c, None)
        images = {"ŷ, this setting": img, "ŷ, trained (s = 1)": trained, "input x": to01(x[face]),
                  "prior only (s = 0)": prior_only, "truth y": to01(y[face])}
        return plot_cs_sft(images, gan[sl].numpy(), out[sl].numpy(), resolution=resolution,
                           half=half if c else "all channels (SFT)", strengths=eff)

    return fn, controls


def cs_sft_widget(net, x, y, *, strength: float = 1.0, resolution: Optional[int] = None, half: str = "modulated",
                  face: int = 0, seed: int = 0) -> None:
    """The CS-SFT explorer of notebook 06 over :func:`gfplib.viz.plot_cs_sft`, on a trained GFPGAN.

    Turn the SFT of each resolution on and off, scale its strength (globally and per layer, 0 = the prior alone,
    1 = the trained model, :func:`gfplib.sft.modulate_conditions`), and look at the pass-through half or the
    modulated half of the decoder's features at one resolution, before and after the SFT.

    Args:
        net: a GFPGAN (``GFPGANv1Clean`` / ``GFPGANv1``), in eval mode.
        x, y: degraded faces and their ground truth ``(N, 3, H, W)`` in [-1, 1].
        strength, resolution, half, face: the default (static) setting; ``resolution`` defaults to the middle SFT
            layer, ``half`` is ``"modulated"`` or ``"pass-through"``.
        seed: the decoder's noise, the same for every setting (so a control changes only what it controls).
    """
    fn, controls = cs_sft_controls(net, x, y, strength=strength, resolution=resolution, half=half, face=face,
                                   seed=seed)
    return interact(fn, **controls)

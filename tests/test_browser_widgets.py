"""Every widget of the series, used the way a student does: in JupyterLab, in a real (headless) browser.

For each notebook whose stored outputs show a widget's static fallback (``gfplib.widgets.interact`` under
``GFPLIB_STATIC_WIDGETS=1``), the test opens a copy in JupyterLab with live widgets, runs all cells, and asserts that
no cell ends in an error and that the notebook shows as many live widgets as its stored version shows static figures.
Then, for every widget, it moves the first control (arrow keys on a slider's handle, or the next option of a
dropdown) and asserts that the figure below it is redrawn with different pixels. New widget notebooks are picked up
by themselves. Screenshots: ``test-artifacts/widget_NN_k_{before,after}.png``. Run with ``make test-browser``.
"""
from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from browser import ROOT, browser_page, jupyterlab, screenshot

pytestmark = pytest.mark.browser

STATIC_MARK = "[static figure of the default setting"  # the line gfplib.widgets.interact prints in static mode


def static_widget_count(path: Path) -> int:
    """How many widgets a stored notebook shows (each one's static fallback prints STATIC_MARK once)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    n = 0
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            text = out.get("text", "")
            n += ("".join(text) if isinstance(text, list) else text).count(STATIC_MARK)
    return n


WIDGET_NOTEBOOKS = [p for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")) if static_widget_count(p)]


def test_widget_notebooks_are_found():
    names = [p.name[:2] for p in WIDGET_NOTEBOOKS]
    assert {"01", "04", "07"} <= set(names), f"widget notebooks found: {names}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab over a copy of the repository's layout: notebooks copied (never saved back), the rest linked."""
    root = tmp_path_factory.mktemp("lab")
    for entry in ROOT.iterdir():
        if entry.name not in ("notebooks", ".git", ".venv", "test-artifacts"):
            (root / entry.name).symlink_to(entry)
    (root / "notebooks").mkdir()
    for p in WIDGET_NOTEBOOKS:
        (root / "notebooks" / p.name).write_bytes(p.read_bytes())
    with jupyterlab(root) as server:
        yield server


# JavaScript run in the page: the notebook's cells from JupyterLab's own model (window.jupyterapp).
JS_STATE = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!w || !w.content || !w.sessionContext || !w.content.widgets) return null;
  const cells = w.content.widgets.filter(c => c.model.type === 'code');
  const errors = [];
  for (const c of cells) for (const o of c.model.outputs.toJSON())
    if (o.output_type === 'error') errors.push(`${o.ename}: ${o.evalue}`);
  return {kernel: w.sessionContext.session && w.sessionContext.session.kernel
                  ? w.sessionContext.session.kernel.status : null,
          n: cells.length, done: cells.filter(c => c.model.executionCount !== null).length,
          running: cells.filter(c => c.node.querySelector('.jp-InputArea-prompt').textContent.includes('*')).length,
          errors};
}"""
JS_IMAGES = """() => Array.from(document.querySelectorAll('.jp-OutputArea-output > .widget-vbox')).map(
  box => { const img = box.querySelector('.widget-output img'); return img ? img.src : null; })"""
# An exception inside a widget's callback lands in its Output area, not in the cell's outputs.
JS_WIDGET_ERRORS = """() => Array.from(document.querySelectorAll(
  '.widget-output [data-mime-type="application/vnd.jupyter.stderr"]')).map(e => e.innerText).filter(
  t => /Traceback|Error/.test(t))"""


def wait_for(fn, timeout, what, interval=0.5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def image_pixels(src: str) -> np.ndarray:
    assert src.startswith(("data:image/png;base64,", "data:image/jpeg;base64,")), \
        f"the widget's output is not an inline PNG or JPEG: {src[:60]}"
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGB"), dtype=np.int16)


def move_first_control(page, box) -> str:
    """Move the first control of a widget as a person would; returns what was done."""
    handle = box.locator(".noUi-handle").first
    if handle.count():
        handle.focus()
        for _ in range(5):
            page.keyboard.press("ArrowRight")
        label = box.locator(".widget-readout").first
        return f"slider {box.locator('.widget-label').first.inner_text()!r} → {label.inner_text() if label.count() else '?'}"
    select = box.locator("select").first
    if select.count():
        options = select.locator("option").all_inner_texts()
        current = select.evaluate("s => s.value")
        nxt = next(o for o in options if o != current)
        select.select_option(label=nxt)
        return f"dropdown {current!r} → {nxt!r}"
    pytest.fail("widget has neither a slider nor a dropdown to move")


@pytest.mark.parametrize("path", WIDGET_NOTEBOOKS, ids=lambda p: p.name[:2])
def test_widgets_redraw_when_moved(lab, path):
    base, token = lab
    expected = static_widget_count(path)
    with browser_page() as (page, blocked):
        page.goto(f"{base}/lab/tree/notebooks/{path.name}?token={token}&reset")
        wait_for(lambda: (s := page.evaluate(JS_STATE)) and s["kernel"] == "idle", 120, "the kernel to start")
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        # done when every cell ran, or when run-all stopped at an error (the cells after it never run)
        state = wait_for(lambda: (s := page.evaluate(JS_STATE)) and (s["done"] == s["n"] or s["errors"])
                         and not s["running"] and s["kernel"] == "idle" and s, 600, "all cells to run")
        assert not state["errors"], f"{path.name}: cells raised {state['errors']}"
        boxes = page.locator(".jp-OutputArea-output > .widget-vbox")
        wait_for(lambda: boxes.count() >= expected and all(page.evaluate(JS_IMAGES)), 60, "every widget's figure")
        assert boxes.count() == expected, f"{path.name}: {boxes.count()} live widgets, {expected} static figures stored"
        for k in range(expected):
            box = boxes.nth(k)
            box.scroll_into_view_if_needed()
            before = page.evaluate(JS_IMAGES)[k]
            screenshot(page, f"widget_{path.name[:2]}_{k}_before.png")
            action = move_first_control(page, box)
            after = wait_for(lambda: (src := page.evaluate(JS_IMAGES)[k]) and src != before and src, 60,
                             f"widget {k} of {path.name} to redraw after {action}")
            box.scroll_into_view_if_needed()
            screenshot(page, f"widget_{path.name[:2]}_{k}_after.png")
            a, b = image_pixels(before), image_pixels(after)
            changed = 1.0 if a.shape != b.shape else float(np.mean(np.any(a != b, axis=-1)))
            print(f"{path.name} widget {k}: {action}; {changed:.1%} of the pixels changed")
            assert changed > 0, f"widget {k} of {path.name}: the image was re-sent but its pixels are the same"
        state = page.evaluate(JS_STATE)
        assert not state["errors"], f"{path.name}: moving the controls raised {state['errors']}"
        errors = page.evaluate(JS_WIDGET_ERRORS)
        assert not errors, f"{path.name}: a widget's callback raised:\n{errors[0][-2000:]}"
        assert not blocked, f"the page tried to reach the network: {blocked[:5]}"

"""The static book (``make book``, tools/build_book.py): built with no network, every notebook a page, every link of
the site resolving (fragments included), no page showing a Python traceback, and two pages looked at in headless
Chromium (screenshots in ``test-artifacts/book_*.png``). Run with ``make test-browser``.
"""
from __future__ import annotations

import html
import importlib.util
import re
import socket
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from browser import ROOT, browser_page, screenshot

pytestmark = pytest.mark.browser

_spec = importlib.util.spec_from_file_location("build_book", ROOT / "tools" / "build_book.py")
build_book = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_book)

#: The one thing a page may fetch from outside when viewed: MathJax, which typesets the formulas (TeX source offline).
ALLOWED_REMOTE = ("https://cdnjs.cloudflare.com/ajax/libs/mathjax/",)


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("id", "name"):
            if a.get(key):
                self.ids.add(a[key])
        for key in ("href", "src"):
            if a.get(key):
                self.links.append(a[key])


def _parse(page: Path) -> _Links:
    p = _Links()
    p.feed(page.read_text(encoding="utf-8"))
    return p


def _unshare_works() -> bool:
    try:
        return subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """Build the book with no network: in a network namespace of its own when ``unshare -n`` works (root), else
    in-process with every socket refused. A build that reaches for the network fails here."""
    out = tmp_path_factory.mktemp("book") / "site"
    if _unshare_works():
        res = subprocess.run(["unshare", "-n", sys.executable, str(ROOT / "tools" / "build_book.py"), "-o", str(out)],
                             capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, f"the book does not build without a network:\n{res.stderr[-3000:]}"
        return out, sorted(out.rglob("*.html"))
    attempts = []

    def refuse(self, address, *a, **k):
        attempts.append(address)
        raise OSError(f"the book build tried to connect to {address}")

    mp = pytest.MonkeyPatch()
    mp.setattr(socket.socket, "connect", refuse)
    mp.setattr(socket.socket, "connect_ex", refuse)
    try:
        pages = build_book.Book(out).build()
    finally:
        mp.undo()
    assert not attempts, f"the build tried to reach {attempts}"
    return out, pages


def test_every_notebook_has_a_page_in_order(book):
    out, pages = book
    nbs = build_book.notebooks()
    for nb in nbs:
        assert (out / "notebooks" / f"{nb.stem}.html").is_file(), f"no page for {nb.name}"
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "<title>gfplearn" in index and "GFPGAN, rebuilt piece by piece" in index, "the README is the landing page"
    toc = re.search(r'<div class="book-toc">(.*?)</div>', index, re.S).group(1)
    order = re.findall(r'href="notebooks/(\d\d)_', toc)
    assert order == [nb.name[:2] for nb in nbs], f"contents out of order: {order}"
    glossary = (out / "glossary.html").read_text(encoding="utf-8")
    assert "术语表" in glossary and "<table" in glossary, "the glossary page has the table of notebook 00"


def test_links_resolve(book):
    out, pages = book
    broken, ids = [], {}
    for page in pages:
        for link in _parse(page).links:
            url = urlparse(link)
            if url.scheme or link.startswith("//"):
                continue  # http(s), data:, mailto: — not part of the site
            target = (page.parent / unquote(url.path)).resolve() if url.path else page
            if not target.is_file() or not target.is_relative_to(out.resolve()):
                broken.append(f"{page.relative_to(out)} → {link}")
            elif url.fragment and target.suffix == ".html":
                if target not in ids:
                    ids[target] = _parse(target).ids
                if not {url.fragment, unquote(url.fragment)} & ids[target]:  # as browsers look it up
                    broken.append(f"{page.relative_to(out)} → {link} (no such anchor)")
    assert not broken, "broken links:\n" + "\n".join(broken[:20])


def test_navigation_links_every_notebook_to_its_neighbours(book):
    out, _ = book
    pages = [out / "notebooks" / f"{nb.stem}.html" for nb in build_book.notebooks()]
    for prev, page in zip(pages, pages[1:]):
        nav = re.search(r'<nav class="book-nav">(.*?)</nav>', page.read_text(encoding="utf-8"), re.S).group(1)
        assert f'href="{prev.name}"' in nav, f"{page.name} has no link back to {prev.name}"
        nav_prev = re.search(r'<nav class="book-nav">(.*?)</nav>', prev.read_text(encoding="utf-8"), re.S).group(1)
        assert f'href="{page.name}"' in nav_prev, f"{prev.name} has no link on to {page.name}"


def test_no_page_shows_a_traceback(book):
    out, pages = book
    for page in pages:
        text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))
        assert "Traceback (most recent call last)" not in text, f"{page.relative_to(out)} shows a Python traceback"


def test_two_pages_render_in_chromium(book):
    out, _ = book
    widget_nb = next(p for p in build_book.notebooks() if p.name.startswith("04_"))
    with browser_page(viewport=(1280, 1000)) as (page, blocked):
        page.goto((out / "index.html").as_uri())
        assert "gfplearn" in page.title()
        assert page.locator(".book-toc a").count() == len(build_book.notebooks()) + 1
        screenshot(page, "book_index.png")
        page.locator(".book-toc a", has_text=widget_nb.name[:2]).first.click()
        page.wait_for_load_state()
        assert page.url.endswith(f"notebooks/{widget_nb.stem}.html"), page.url
        figure = page.locator(".jp-RenderedImage img").nth(3)
        figure.scroll_into_view_if_needed()
        assert figure.evaluate("img => img.complete && img.naturalWidth > 0"), "a stored figure did not load"
        screenshot(page, f"book_{widget_nb.stem}.png")
        page.locator(".book-nav a", has_text="→").first.click()
        page.wait_for_load_state()
        assert page.url.endswith(".html") and "/notebooks/05_" in page.url, page.url
    outside = [u for u in blocked if not u.startswith(ALLOWED_REMOTE)]
    assert not outside, f"book pages fetch from the network: {outside[:5]}"

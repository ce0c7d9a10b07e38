"""Every reference to the GFP-GAN paper in the series points at the right item (see ``gfplib.paper``).

A reference is "Eq. N" / "Eqs. N–M" / "eq. (N)" / "Equation N", "Sec. N" / "§N", "Fig. N" / "Figure N" or
"Table N" in ``gfplib`` (docstrings, comments, messages), the notebooks (markdown and code cells), README.md,
CONTRIBUTING.md and data/README.md. For each one:

1. the number must be an entry of ``gfplib.paper.PAPER`` ("Eq. 11" is not: the paper has ten equations);
2. a key term next to it must name that entry (or the section containing it, or an item it contains). Key terms
   are the ``keywords`` of the entries ("reconstruction loss", "CS-SFT", "退化模型", ...). The search looks at most
   160 characters either way without leaving the paragraph, the table cell, the clause (";") or, for a comment or
   a heading, the line; nor does it pass another reference — so in "the reconstruction loss (Eq. 5) and the
   adversarial loss (Eq. 6)" each equation has its own loss, and "CS-SFT (Eq. 2)" or "the degradation model
   (eq. 6)" fail. A reference with no key term of its own may lean on an adjacent related one
   ("the losses (Sec. 3.5, Eqs. 5–9)").

Not checked: quoted examples in inline code (`Eq. 2`); references to other papers, recognised by the paper's name
right before them ("StyleGAN2 §2.2", "ArcFace Eq. 3") or by the nearest citation before them in the paragraph
("Karras et al.", an arXiv id other than 2101.04061); sections of the shared facts file, written "facts §N"; and the
notebooks' own sections, written in words ("section 4", never "§4").
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import pytest

from gfplib.paper import PAPER, related

ROOT = Path(__file__).resolve().parent.parent

WINDOW = 160  # characters searched on each side of a reference

REF_RE = re.compile(
    r"(?P<kind>§|\bSecs?\.|\b[Ee]qs?\.|\b[Ee]quations?\b|\bFigs?\.|\bFigures?\b|\bTables?\b)"
    r"[ \t]*\(?[ \t]*"
    r"(?P<nums>\d+(?:\.\d+)?(?:[ \t]*(?:–|-|,|and|&)[ \t]*\d+(?:\.\d+)?)*)")
KIND = {"§": "Sec.", "Sec.": "Sec.", "Secs.": "Sec.", "Eq.": "Eq.", "Eqs.": "Eq.", "eq.": "Eq.", "eqs.": "Eq.",
        "Equation": "Eq.", "equation": "Eq.", "Equations": "Eq.", "equations": "Eq.", "Fig.": "Fig.", "Figs.": "Fig.",
        "Figure": "Fig.", "Figures": "Fig.", "Table": "Table", "Tables": "Table"}

FACTS_BEFORE = re.compile(r"(facts|gfpgan_facts(\.md)?`{0,2})[ \t]*\(?[ \t]*$")
OTHER_PAPER_BEFORE = re.compile(
    r"\b(StyleGAN2?|ArcFace|Progressive GAN|PGGAN|VGG|LPIPS|SFT-GAN|DFDNet|PULSE|U-Net paper)[ \t]*,?[ \t]*$")
ANCHOR_RE = re.compile(
    r"(?P<ours>2101\.04061|\bGFP-?GAN|\b[Pp]aper\b|Wang et al\.,? (?:CVPR )?2021)"
    r"|(?P<other>(?:arxiv\.org/abs/|arXiv:? ?)(?!2101\.04061)\d{4}\.\d{4,5}|\b(?!Wang\b)[A-Z][a-z]+ et al\."
    r"|Wang et al\.,? (?:[A-Z]+ )?20(?!21)\d\d|Progressive Growing of GANs|Progressive GAN)")
ANCHOR_REACH = 300


@dataclass
class Ref:
    start: int
    end: int
    text: str
    keys: Tuple[str, ...]          # canonical keys ("Sec. 3.2", ...), ranges expanded
    unknown: Tuple[str, ...]       # numbers that are not entries of the table


@dataclass
class Problem:
    where: str
    ref: str
    message: str

    def __str__(self):
        return f"{self.where}: {self.ref!r}: {self.message}"


def _numbers(kind: str, nums: str) -> Tuple[List[str], List[str]]:
    """Expand "3.1–3.4", "6–10", "1 and 3" into canonical keys; return (known keys, unknown keys)."""
    keys, unknown = [], []
    parts = re.split(r"[ \t]*(,|and|&)[ \t]*", nums)
    for part in parts:
        if part in (",", "and", "&") or not part:
            continue
        bounds = re.split(r"[ \t]*[–-][ \t]*", part)
        if len(bounds) == 2:
            lo, hi = float(bounds[0]), float(bounds[1])
            for b in bounds:
                (keys if f"{kind} {b}" in PAPER else unknown).append(f"{kind} {b}")
            for key in PAPER:
                k, _, n = key.partition(" ")
                if k == kind and lo < float(n) < hi and key not in keys and n.count(".") == bounds[0].count("."):
                    keys.append(key)
        else:
            (keys if f"{kind} {part}" in PAPER else unknown).append(f"{kind} {part}")
    return keys, unknown


def _external(text: str, start: int) -> bool:
    """True when the reference at ``start`` is to another paper or to the shared facts file."""
    before = text[max(0, start - 60):start]
    if FACTS_BEFORE.search(before) or OTHER_PAPER_BEFORE.search(before):
        return True
    anchors = list(ANCHOR_RE.finditer(text[max(0, start - ANCHOR_REACH):start]))
    return bool(anchors) and anchors[-1].group("other") is not None


def _keyword_matches(text: str) -> List[Tuple[int, int, str]]:
    """All key-term matches (start, end, owner key); a match inside a longer one is dropped."""
    found = []
    for key, it in PAPER.items():
        for pattern in it.keywords:
            for m in re.finditer(pattern, text, flags=re.IGNORECASE):
                if m.end() > m.start():
                    found.append((m.start(), m.end(), key))
    spans = {(s, e) for s, e, _ in found}
    return [(s, e, k) for s, e, k in found
            if not any(s2 <= s and e <= e2 and (s2, e2) != (s, e) for s2, e2 in spans)]


def check_text(text: str, where: str = "<text>") -> List[Problem]:
    """The problems of every GFP-GAN reference in ``text`` (a docstring, a markdown cell, a README)."""
    problems: List[Problem] = []
    # inline code (`...`, ``...``) is quoted text, e.g. an example in the docs: blanked, not checked
    masked = re.sub(r"(?<![:`])(`+)[^`\n]+?\1", lambda m: " " * len(m.group(0)), text)  # not :math:`…`
    # paragraphs end at blank lines; the cells of a markdown table row are paragraphs of their own
    marked = re.sub(r"(?m)^[ \t]*\|.*$", lambda m: m.group(0).replace("|", "\x00"), masked)
    offset = 0
    for part in re.split(r"(\n[ \t]*\n|\x00)", marked):
        problems += _check_paragraph(masked[offset:offset + len(part)], text[offset:offset + len(part)], text,
                                     offset, where)
        offset += len(part)
    return problems


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _check_paragraph(para: str, raw: str, full: str, offset: int, where: str) -> List[Problem]:
    refs: List[Ref] = []
    all_spans = []
    for m in REF_RE.finditer(para):
        all_spans.append((m.start(), m.end()))
        if _external(raw, m.start()):
            continue
        keys, unknown = _numbers(KIND[m.group("kind")], m.group("nums"))
        refs.append(Ref(m.start(), m.end(), m.group(0), tuple(keys), tuple(unknown)))
    if not refs:
        return []
    problems = []
    loc = lambda r: f"{where}:{_line(full, offset + r.start)}"  # noqa: E731
    matches = [(s, e, k) for s, e, k in _keyword_matches(para)
               if not any(s < re_ and rs < e for rs, re_ in all_spans)]

    def bounds(ref: Ref) -> Tuple[int, int]:
        left = max([0, ref.start - WINDOW, para.rfind(";", 0, ref.start) + 1]
                   + [e2 for s2, e2 in all_spans if e2 <= ref.start])
        right = min([len(para), ref.end + WINDOW] + [p for p in [para.find(";", ref.end)] if p >= 0]
                    + [s2 for s2, e2 in all_spans if s2 >= ref.end])
        line_start = para.rfind("\n", 0, ref.start) + 1
        if "#" in para[line_start:ref.start]:  # a comment (or a heading) speaks for its own line only
            line_end = para.find("\n", ref.end)
            left, right = max(left, line_start), min(right, len(para) if line_end < 0 else line_end)
        return left, right

    def gap(ref: Ref, s: int, e: int) -> Optional[int]:
        left, right = bounds(ref)
        if s < left or e > right:
            return None
        return ref.start - e if e <= ref.start else s - ref.end

    owned: Dict[int, List[Tuple[int, str, str]]] = {i: [] for i in range(len(refs))}
    for s, e, k in matches:
        for i, r in enumerate(refs):
            g = gap(r, s, e)
            if g is not None:
                owned[i].append((g, k, para[s:e]))

    verdict: Dict[int, Optional[bool]] = {}
    for i, ref in enumerate(refs):
        for u in ref.unknown:
            problems.append(Problem(loc(ref), ref.text, f"{u} is not in gfplib.paper.PAPER (the paper's numbered "
                                                        "items); check the number against the paper"))
        if ref.unknown or not ref.keys:
            verdict[i] = False
            continue
        if not owned[i]:
            verdict[i] = None
            continue
        if any(related(c, k) for c in ref.keys for _, k, _ in owned[i]):
            verdict[i] = True
        else:
            verdict[i] = False
            said = "; ".join(sorted({f"{t!r} → {k} ({PAPER[k].meaning})" for _, k, t in owned[i]}))
            cited = "; ".join(f"{c} is {PAPER[c].meaning}" for c in ref.keys)
            problems.append(Problem(loc(ref), ref.text, f"the key terms next to it name other items: {said}. "
                                                        f"But {cited}"))
    # a reference with no key term of its own may lean on an adjacent, related, correct one ("Sec. 3.5, Eqs. 6–10")
    for i, ref in enumerate(refs):
        if verdict[i] is not None:
            continue
        ok = False
        for j in (i - 1, i + 1):
            if 0 <= j < len(refs) and verdict.get(j):
                a, b = sorted((ref, refs[j]), key=lambda r: r.start)
                between = para[a.end:b.start]
                if re.fullmatch(r"[\s,;/()&–-]*(and|or)?[\s,;/()&–-]*", between) and any(
                        related(c, d) for c in ref.keys for d in refs[j].keys):
                    ok = True
        if not ok:
            problems.append(Problem(loc(ref), ref.text, "no key term next to it: say what it is, e.g. "
                                    f"'{PAPER[ref.keys[0]].meaning.split(':')[0]} ({ref.keys[0]})'"))
    return problems


# ------------------------------------------------------------------------------------------------- the sources
def _sources() -> List[Tuple[str, str]]:
    out = []
    for path in sorted((ROOT / "gfplib").rglob("*.py")):
        if path.name == "paper.py" and path.parent.name == "gfplib":
            continue  # the table itself
        out.append((str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")))
    for name in ("README.md", "CONTRIBUTING.md", "data/README.md"):
        if (ROOT / name).exists():
            out.append((name, (ROOT / name).read_text(encoding="utf-8")))
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        for i, cell in enumerate(nb["cells"]):
            src = cell.get("source", "")
            out.append((f"{path.relative_to(ROOT)}[cell {i}]", "".join(src) if isinstance(src, list) else src))
    return out


SOURCES = _sources()


def test_sources_found():
    names = {n.split("[")[0] for n, _ in SOURCES}
    assert "README.md" in names and "gfplib/degradation.py" in names
    assert any(n.startswith("notebooks/") for n in names)


@pytest.mark.parametrize("group", sorted({n.split("[")[0] for n, _ in SOURCES}))
def test_paper_references(group):
    problems = [p for name, text in SOURCES if name.split("[")[0] == group for p in check_text(text, name)]
    assert not problems, "wrong or unexplained paper references:\n" + "\n".join(map(str, problems))


# ------------------------------------------------------------------------------------------- the checker itself
@pytest.mark.parametrize("text", [
    "Channel-split spatial feature transform (GFP-GAN Eq. 2).",                       # CS-SFT is Eq. 4
    "Channel-split spatial feature transform (`cs_sft`, Eq. 2).",                     # code spans are not terms
    "degraded on the fly by the degradation model (eq. 6)",                           # Eq. 10; Eq. 6 is L_adv
    "the degradation model (Eq. 4)",                                                  # Eq. 4 is CS-SFT
    "the pyramid restoration loss (paper Eq. 7)",                                     # Sec. 3.2 text; Eq. 7: L_comp
    "the pyramid restoration loss (Eq. 5)",                                           # Eq. 5 is L_rec
    "the CS-SFT layers (Eq. 5)",                                                      # CS-SFT is Eq. 4
    "the ablation studies (Sec. 4.4, Table 3)",                                       # Sec. 4.3 and Table 4
    "the facial component loss (§3.4)",                                               # Sec. 3.5
    "the reconstruction loss (Eq. 7)",
    "the total loss, Eq. 11",                                                         # no Eq. 11
    "GFPGAN is trained as in Table 9.",
    "This notebook follows §3.2.",                                                    # no meaning given
    "the reconstruction loss (Eq. 5) and the identity preserving loss (Eq. 9)",       # second one is Eq. 8
    "the total loss (Eq. 10)",                                                        # Eq. 9
])
def test_checker_flags_wrong_references(text):
    assert check_text(text), f"not flagged: {text!r}"


@pytest.mark.parametrize("text", [
    "Channel-split spatial feature transform (CS-SFT, Eq. 4).",
    "the spatial feature transform (SFT, Eq. 3): α, β = Conv(F_spatial), α ⊙ F_GAN + β",
    "degraded by the degradation model of Sec. 4.1",
    "the degradation model x = [(y ⊛ k_σ)↓_r + n_δ]_JPEG_q (Sec. 4.1, Eq. 10)",
    "the pyramid restoration loss (Sec. 3.2; it has no equation number)",
    "the facial component loss (§3.5, Eq. 7)",
    "the reconstruction loss (Eq. 5) and the adversarial loss (Eq. 6)",
    "the identity preserving loss (Eq. 8) and the total loss (Eq. 9)",
    "the ablation studies (Sec. 4.3, Table 4) and the ablation figures (Figs. 6 and 7)",
    "§3.2 Degradation Removal Module, §3.3 Generative Facial Prior and Latent Code Mapping, §3.4 channel-split SFT",
    "One module for the losses (paper Sec. 3.5, Eqs. 5–9).",
    "Modulated convolution (StyleGAN2 §2.2, replacing AdaIN)",                        # another paper
    "StyleGAN2 (Karras et al., CVPR 2020) §2 (weight demodulation), §4 (skip generator)",
    "ArcFace (Deng et al., https://arxiv.org/abs/1801.07698), Eq. 3",
    "the FFHQ template (facts §5)",
    "the overview figure (Fig. 2)",
    "W = MLP(F_latent), the latent code mapping of Eq. 2",
    "退化去除模块 (Sec. 3.2)",
])
def test_checker_accepts_right_references(text):
    assert not check_text(text), check_text(text)


@pytest.mark.parametrize("key", list(PAPER))
def test_every_entry_cited_with_its_meaning_passes(key):
    """``cite()`` writes the key followed by its meaning; that must pass the check (the keywords fit the meaning)."""
    from gfplib.paper import cite

    text = f"{PAPER[key].meaning} ({key})"
    assert not check_text(text), check_text(text)
    assert cite(key).startswith(key)


def test_table_is_consistent():
    for key, it in PAPER.items():
        kind, _, number = key.partition(" ")
        assert kind in ("Eq.", "Sec.", "Fig.", "Table") and re.fullmatch(r"\d+(\.\d+)?", number), key
        assert it.parent is None or it.parent in PAPER, f"{key}: unknown parent {it.parent}"
        assert it.keywords, f"{key}: give at least one keyword"
        for pattern in it.keywords:
            re.compile(pattern)
    # the ten numbered equations of the v2 text, each in its section: nine in the method, the degradation model in 4.1
    assert [k for k in PAPER if k.startswith("Eq.")] == [f"Eq. {n}" for n in range(1, 11)]
    sections = {1: "Sec. 3.2", 2: "Sec. 3.3", 3: "Sec. 3.4", 4: "Sec. 3.4", 10: "Sec. 4.1"}
    for n in range(1, 11):
        assert PAPER[f"Eq. {n}"].parent == sections.get(n, "Sec. 3.5")


@pytest.mark.parametrize("phrase, owners", [
    ("U-Net", {"Sec. 3.2", "Eq. 1"}),
    ("pyramid restoration loss", {"Sec. 3.2"}),
    ("latent code mapping", {"Sec. 3.3", "Eq. 2"}),
    ("generative facial prior", {"Sec. 3.3"}),
    ("spatial feature transform", {"Sec. 3.4", "Eq. 3"}),
    ("channel-split spatial feature transform", {"Sec. 3.4", "Eq. 4"}),
    ("CS-SFT", {"Sec. 3.4", "Eq. 4"}),
    ("identity half", {"Eq. 4"}),
    ("reconstruction loss", {"Eq. 5"}),
    ("adversarial loss", {"Eq. 6"}),
    ("facial component loss", {"Eq. 7"}),
    ("identity preserving loss", {"Eq. 8"}),
    ("total loss", {"Eq. 9"}),
    ("degradation model", {"Sec. 4.1", "Eq. 10"}),
    ("退化去除模块", {"Sec. 3.2", "Eq. 1"}),
    ("通道分割空间特征变换", {"Sec. 3.4", "Eq. 4"}),
    ("身份保留损失", {"Eq. 8"}),
    ("ablation", {"Sec. 4.3", "Table 4", "Fig. 6", "Fig. 7"}),
])
def test_names_belong_to_the_right_items(phrase, owners):
    """The paper's names for its parts are key terms of exactly the items that define them."""
    found = {k for _, _, k in _keyword_matches(phrase)}
    assert found == owners, f"{phrase!r} is a key term of {sorted(found)}, expected {sorted(owners)}"

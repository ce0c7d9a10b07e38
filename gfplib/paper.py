"""The GFP-GAN paper's numbered items in one table: equations, sections, figures and tables, with their meaning.

Wang, Li, Zhang, Shan, "Towards Real-World Blind Face Restoration with Generative Facial Prior", CVPR 2021,
arXiv 2101.04061 v2 (https://arxiv.org/abs/2101.04061). Every "Eq. N", "Sec. N" / "§N", "Fig. N" and "Table N"
written in ``gfplib``, the notebooks and the README refers to an entry of :data:`PAPER`, and the text next to it names
what the entry is about — ``tests/test_paper_refs.py`` checks both, so a reference cannot point at the wrong
equation unnoticed. Notebook 00 and CONTRIBUTING.md ("Paper references") explain the convention.

Numbering checked against the v2 text (11 Jun 2021, the CVPR 2021 version): each displayed block has one number,
so Eq. 2 (``W = MLP(F_latent), F_GAN = StyleGAN(W)``) and Eq. 3 (``α, β = Conv(F_spatial)`` with the SFT itself) are
two lines under one number; the degradation model that makes the training inputs is Eq. 10, in Sec. 4.1 ("Training
datasets"); the ablations are Sec. 4.3 with Table 4 and Figs. 6–7. One thing has no number of its own and is cited
by section: the pyramid restoration loss on the U-Net's intermediate RGB images (Sec. 3.2, text only).

Each entry lists ``keywords``: regular expressions (case-insensitive) for the words that name it in English, in the
paper's symbols and in the Chinese study note (``note``: its heading or term, e.g. 退化去除模块). ``parent`` is the
section an equation or subsection belongs to.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

__all__ = ["PaperItem", "PAPER", "KINDS", "item", "cite", "related"]

#: How each kind of item is written in the series (the first spelling is the canonical one).
KINDS: Dict[str, Tuple[str, ...]] = {
    "Eq.": ("Eq.", "Eqs.", "eq.", "Equation"),
    "Sec.": ("Sec.", "§"),
    "Fig.": ("Fig.", "Figure"),
    "Table": ("Table",),
}


@dataclass(frozen=True)
class PaperItem:
    """One numbered item of the paper.

    Args:
        key: canonical reference, e.g. ``"Eq. 5"``, ``"Sec. 3.2"``, ``"Fig. 2"``.
        meaning: what it is, in a few words.
        note: the matching heading or term of the Chinese study note, if there is one.
        keywords: regular expressions (case-insensitive) for words that name this item in a sentence.
        parent: key of the section that contains it, if any.
    """

    key: str
    meaning: str
    note: str = ""
    keywords: Tuple[str, ...] = ()
    parent: Optional[str] = None


def _items(*items: PaperItem) -> Dict[str, PaperItem]:
    return {it.key: it for it in items}


# SFT (Eq. 3) must not claim the words of CS-SFT (Eq. 4): hence the look-behinds.
_SFT = r"(?<!split )(?<!split-)(?<!CS-)"

PAPER: Dict[str, PaperItem] = _items(
    # ---- sections
    PaperItem("Sec. 1", "Introduction: blind face restoration and the priors it relies on", "Introduction",
              (r"introduction", r"geometric priors?", r"reference priors?", r"几何先验", r"参考先验",
               r"face[- ]specific priors?")),
    PaperItem("Sec. 2", "Related work", "Introduction · Generative Priors / Channel Split Operation",
              (r"related work", r"相关工作")),
    PaperItem("Sec. 3", "Methodology", "Methodology",
              (r"methodology", r"\bmethod\b", r"方法")),
    PaperItem("Sec. 3.1", "Overview of GFP-GAN", "Methodology · Pipeline",
              (r"overview", r"pipeline", r"framework", r"总览"), parent="Sec. 3"),
    PaperItem("Sec. 3.2", "Degradation removal module: U-Net, multi-resolution spatial features, pyramid restoration "
              "loss", "Degradation Removal Module · 退化去除模块",
              (r"degradation[- ]removal", r"退化去除", r"U-?Net", r"pyramid restoration", r"金字塔复原",
               r"intermediate (restoration|results?|RGBs?|outputs?)", r"pyramid (restoration )?loss",
               r"F_\{?spatial\}?", r"multi-resolution", r"out_rgbs"),
              parent="Sec. 3"),
    PaperItem("Sec. 3.3", "Generative facial prior and latent code mapping", "Generative Facial Prior and Latent Code "
              "Mapping · 生成式人脸先验 / 潜在代码映射",
              (r"generative facial prior", r"生成式人脸先验", r"latent code mapping", r"潜在代码映射",
               r"pretrained (face )?GAN", r"(facial|face|StyleGAN2?) prior", r"F_\{?GAN\}?"), parent="Sec. 3"),
    PaperItem("Sec. 3.4", "Channel-split spatial feature transform (CS-SFT)", "Channel-Split Spatial Feature Transform "
              "· 通道分割空间特征变换",
              (r"channel[- ]split", r"CS-SFT", r"通道分割", _SFT + r"spatial feature transform", _SFT + r"\bSFT\b",
               r"空间特征变换", r"realness and fidelity"), parent="Sec. 3"),
    PaperItem("Sec. 3.5", "Model objectives: the training losses", "Model Objectives · loss",
              (r"model objectives?", r"training objectives?", r"\blosses\b", r"loss terms?", r"模型目标"),
              parent="Sec. 3"),
    PaperItem("Sec. 4", "Experiments", "Experiments and More details",
              (r"experiments?", r"实验")),
    PaperItem("Sec. 4.1", "Datasets and implementation: FFHQ training data, the degradation model, test sets, "
              "training details", "degradation model · 退化模型",
              (r"datasets?", r"training data", r"FFHQ", r"degradation model", r"退化模型", r"synthetic (pairs|data)",
               r"\bdegradations\b", r"\bdegradation (presets?|ranges?|settings|parameters|pipeline)",
               r"implementation", r"CelebA-Test", r"training (details|settings)"), parent="Sec. 4"),
    PaperItem("Sec. 4.2", "Comparisons with state-of-the-art methods (synthetic CelebA-Test and real-world test sets)",
              "Experiments and More details",
              (r"comparisons?", r"state[- ]of[- ]the[- ]art", r"real-world (test|photos?|images?)", r"metrics?"),
              parent="Sec. 4"),
    PaperItem("Sec. 4.3", "Ablation studies: CS-SFT layers, pretrained GAN as prior, pyramid restoration loss, "
              "facial component loss", "Experiments and More details",
              (r"ablations?", r"消融"), parent="Sec. 4"),
    PaperItem("Sec. 4.4", "Discussion and limitations: training bias, failure cases", "Experiments and More details",
              (r"limitations?", r"training bias", r"failure cases?"), parent="Sec. 4"),
    # ---- equations (one number per displayed block)
    PaperItem("Eq. 1", "F_latent, F_spatial = U-Net(x): the degradation removal module", "退化去除模块",
              (r"U-?Net", r"F_\{?latent\}?", r"F_\{?spatial\}?", r"degradation[- ]removal", r"退化去除"),
              parent="Sec. 3.2"),
    PaperItem("Eq. 2", "W = MLP(F_latent), F_GAN = StyleGAN(W): latent code mapping into the pretrained StyleGAN2",
              "潜在代码映射",
              (r"latent code mapping", r"潜在代码映射", r"MLP", r"F_\{?GAN\}?", r"StyleGAN2?\s*\(", r"latent codes?",
               r"F_\{?latent\}?"),
              parent="Sec. 3.3"),
    PaperItem("Eq. 3", "α, β = Conv(F_spatial) and F_output = SFT(F_GAN | α, β) = α ⊙ F_GAN + β: the spatial "
              "feature transform", "空间特征变换",
              (r"α\s*,\s*β", r"\\alpha\s*,\s*\\beta", r"scale and shift",
               r"(scale|shift)\s*(:math:`)?(α|β|\\alpha|\\beta)",
               r"condition_(scale|shift)", r"modulation parameters", r"F_\{?spatial\}?",
               _SFT + r"spatial feature transform", _SFT + r"\bSFT\b", r"(?<!分割)空间特征变换",
               r"α\s*⊙\s*F(_\{?GAN\}?)?\s*\+", r"\\alpha\s*\\odot\s*F(_\{GAN\})?\s*\+"), parent="Sec. 3.4"),
    PaperItem("Eq. 4", "CS-SFT: half of F_GAN passes through (identity branch), the other half is modulated",
              "通道分割空间特征变换",
              (r"channel[- ]split", r"CS-SFT", r"通道分割", r"sft_half", r"\bsplit\b", r"\bhalf\b", r"Concat",
               r"identity (half|branch|mapping)", r"恒等", r"\bF_(id|t)\b", r"F\^\{?(id|t)\}?", r"\bcat\["),
              parent="Sec. 3.4"),
    PaperItem("Eq. 5", "L_rec: reconstruction loss (L1 + perceptual) on the final output", "Reconstruction Loss · 重建损失",
              (r"reconstruction", r"重建损失", r"L_\{?rec\}?", r"\\mathcal\{L\}_\{rec\}", r"perceptual",
               r"感知损失", r"pixel loss"), parent="Sec. 3.5"),
    PaperItem("Eq. 6", "L_adv: adversarial loss (global StyleGAN2 discriminator, logistic loss)",
              "Adversarial Loss · 对抗损失",
              (r"adversarial", r"对抗损失", r"L_\{?adv\}?", r"\\mathcal\{L\}_\{adv\}", r"global discriminator",
               r"logistic loss", r"non-?saturating", r"softplus"), parent="Sec. 3.5"),
    PaperItem("Eq. 7", "L_comp: facial component loss (eye and mouth discriminators + Gram-matrix style)",
              "Facial Component Loss · 面部组成损失",
              (r"facial[- ]component", r"面部组成损失", r"L_\{?comp\}?", r"\\mathcal\{L\}_\{comp\}",
               r"component (discriminators?|boxes|crops?|loss(es)?)", r"Gram", r"eyes? and (the )?mouth", r"ROI align"),
              parent="Sec. 3.5"),
    PaperItem("Eq. 8", "L_id: identity preserving loss (ArcFace embedding distance)",
              "Identity Preserving Loss · 身份保留损失",
              (r"identity[- ]preserving", r"身份保留", r"L_\{?id\}?", r"\\mathcal\{L\}_\{id\}", r"ArcFace",
               r"identity (loss|network|embeddings?|features)", r"face recognition", r"\bidentity\b", r"身份"),
              parent="Sec. 3.5"),
    PaperItem("Eq. 9", "L_total = L_rec + L_adv + L_comp + L_id: the sum of all losses (weights inside each term)",
              "Total loss · 总损失",
              (r"\btotal\b", r"总损失", r"L_\{?total\}?", r"\\mathcal\{L\}_\{total\}", r"weighted",
               r"(loss )?weights of (every|each|all)"), parent="Sec. 3.5"),
    PaperItem("Eq. 10", "x = [(y ⊛ k_σ)↓_r + n_δ]_JPEG_q: the degradation model that makes the training inputs",
              "degradation model · 退化模型",
              (r"degradation model", r"退化模型", r"k_\{?σ\}?", r"k_\{?\\sigma\}?", r"JPEG_\{?q\}?", r"n_\{?δ\}?",
               r"n_\{?\\delta\}?", r"↓_?r\b", r"\bdegradations\b",
               r"\bdegradation (presets?|ranges?|settings|parameters|pipeline)"),
              parent="Sec. 4.1"),
    # ---- figures and tables
    PaperItem("Fig. 1", "Comparisons with state-of-the-art methods on real-world low-quality faces", "",
              (r"comparisons?", r"state[- ]of[- ]the[- ]art"), parent="Sec. 1"),
    PaperItem("Fig. 2", "Overview of the GFP-GAN framework", "Methodology · Pipeline",
              (r"overview", r"pipeline", r"framework", r"architecture"), parent="Sec. 3.1"),
    PaperItem("Fig. 5", "Qualitative comparisons on the real-world LFW-, CelebChild- and WebPhoto-Test", "",
              (r"real-world (test|photos?|images?|faces?)", r"LFW", r"CelebChild", r"WebPhoto", r"qualitative"),
              parent="Sec. 4.2"),
    PaperItem("Fig. 6", "Ablations, qualitatively: CS-SFT vs SFT vs no spatial modulation, no generative prior, "
              "no pyramid restoration loss", "",
              (r"ablations?", r"消融"), parent="Sec. 4.3"),
    PaperItem("Fig. 7", "Ablation of the facial component loss on the eyes: discriminators, feature matching, "
              "feature style (Gram) loss", "",
              (r"ablations?", r"消融", r"feature matching"),
              parent="Sec. 4.3"),
    PaperItem("Table 1", "Quantitative comparison on CelebA-Test, blind face restoration (LPIPS, FID, NIQE, Deg., "
              "PSNR, SSIM)", "",
              (r"CelebA-Test", r"quantitative", r"LPIPS", r"\bFID\b", r"NIQE", r"PSNR", r"SSIM", r"metrics?"),
              parent="Sec. 4.2"),
    PaperItem("Table 2", "Quantitative comparison on CelebA-Test, 4× face super-resolution", "",
              (r"CelebA-Test", r"quantitative", r"super-?resolution", r"\b4\s*×", r"\bSR\b"), parent="Sec. 4.2"),
    PaperItem("Table 3", "Quantitative comparison on the real-world LFW-, CelebChild- and WebPhoto-Test (FID, NIQE)",
              "",
              (r"real-world (test|photos?|images?|faces?)", r"LFW", r"CelebChild", r"WebPhoto", r"quantitative",
               r"\bFID\b", r"NIQE"), parent="Sec. 4.2"),
    PaperItem("Table 4", "Ablation studies on CelebA-Test: no spatial modulation, SFT instead of CS-SFT, no generative "
              "prior, no pyramid restoration loss", "",
              (r"ablations?", r"消融"), parent="Sec. 4.3"),
)

# Fig. 2 draws the whole method, so it may stand next to any part of it.
_DEPICTS = {"Fig. 2": {"Sec. 3.2", "Sec. 3.3", "Sec. 3.4", "Sec. 3.5", "Eq. 1", "Eq. 2", "Eq. 3", "Eq. 4", "Eq. 6",
                       "Eq. 7", "Eq. 8"}}


def item(key: str) -> PaperItem:
    """The entry for ``key`` ("Eq. 5", "Sec. 3.2", "§3.2", "Fig. 2", "Table 1"); a clear error if there is none."""
    canon = key.strip()
    if canon.startswith("§"):
        canon = "Sec. " + canon[1:].strip()
    if canon not in PAPER:
        raise KeyError(f"{key!r} is not a numbered item of GFP-GAN (arXiv 2101.04061) known to gfplib.paper; "
                       f"known: {', '.join(PAPER)}")
    return PAPER[canon]


def cite(key: str) -> str:
    """``"Eq. 5 (L_rec: reconstruction loss ...)"`` — the reference followed by its meaning, for notebook prose."""
    it = item(key)
    return f"{it.key} ({it.meaning})"


def _ancestors(key: str) -> set:
    out = set()
    parent = PAPER[key].parent
    while parent is not None:
        out.add(parent)
        parent = PAPER[parent].parent
    return out


def related(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` are the same item, one contains the other, or a figure depicts the other."""
    if a == b or a in _ancestors(b) or b in _ancestors(a):
        return True
    return b in _DEPICTS.get(a, ()) or a in _DEPICTS.get(b, ())

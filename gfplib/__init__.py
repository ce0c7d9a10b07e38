"""gfplib — GFPGAN rebuilt piece by piece, in plain PyTorch.

Wang et al., "Towards Real-World Blind Face Restoration with Generative Facial Prior", CVPR 2021,
https://arxiv.org/abs/2101.04061.

Importing ``gfplib`` has no side effects: every submodule is imported explicitly where it is used
(``from gfplib import degradation``), nothing is downloaded or compiled at import time.
"""

__version__ = "0.1.0"

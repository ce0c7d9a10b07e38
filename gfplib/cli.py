"""The ``gfplib`` command: one console script, one sub-command per task a user runs from a shell.

``gfplib restore …``, ``gfplib evaluate …``, ``gfplib export …``. Each sub-command lives in the module that does the
work; that module defines ``add_arguments(parser)`` (its options) and ``run(args) -> int`` (the exit status), and
this file only dispatches, so ``python -m gfplib.<module>`` and ``gfplib <name>`` are the same program.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Optional, Sequence

__all__ = ["COMMANDS", "main", "run_module"]

#: sub-command → (module, one-line help). The module is imported only when its command runs.
COMMANDS = {
    "restore": ("gfplib.restore", "restore the faces in photos (detect, align, GFPGAN, paste back)"),
    "evaluate": ("gfplib.evaluate", "score restored faces against their ground truth (PSNR, SSIM, LPIPS, FID, …)"),
    "export": ("gfplib.export", "export a GFPGAN to ONNX and check it against PyTorch"),
}


def run_module(module, argv: Optional[Sequence[str]] = None) -> int:
    """``python -m gfplib.<module> …``: the module's own options and ``run``, as ``gfplib <name> …`` uses them."""
    parser = argparse.ArgumentParser(prog=f"python -m {module.__spec__.name}", description=module.__doc__.splitlines()[0])
    module.add_arguments(parser)
    return int(module.run(parser.parse_args(argv)) or 0)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="gfplib", description="gfplib — a readable, tested GFPGAN.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:  # import only the module that runs: `gfplib restore` does not load the metrics stack
            try:
                mod = importlib.import_module(module)
            except ModuleNotFoundError as e:
                if e.name != module:
                    raise
                parser.error(f"'{name}' is not available in this version of gfplib")
            mod.add_arguments(p)
            p.set_defaults(_run=mod.run)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

"""Mutation testing of gfplib's mathematical core with mutmut (``make mutate``; not part of ``make test``).

A mutation tool changes one small thing in the source (``+`` → ``-``, ``0.5`` → ``1.5``, a dropped argument …) and
runs the tests that cover the changed function. A mutant that no test notices ("survived") marks a place where the
tests do not pin the behaviour down. mutmut writes its mutated copies under ``mutants/`` of the folder it runs in, so
this script never runs it in the repository: each group below gets its own copy of the working tree (tracked and
untracked, not ignored files) in ``$MUTATE_DIR`` (default ``/tmp/gfplib-mutate``), and only the report comes back,
to ``mutants/report.md`` (ignored by git).

Each group mutates the named functions of one module and runs only the tests that exercise it. Usage::

    python tools/mutate.py                      # every group
    python tools/mutate.py common losses        # some groups
    MUTATE_JOBS=2 python tools/mutate.py ops    # parallel mutants (default 1: a shared 2-core machine)
    MUTATE_REF=HEAD python tools/mutate.py      # the last commit instead of the working tree
    MUTATE_RECHECK=mutants/report.md python tools/mutate.py   # only the mutants a previous report lists
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: group → module, the tests to run, and the functions to mutate (``Class.method`` for methods; ``*`` globs allowed)
GROUPS = {
    "common": dict(
        module="gfplib/pretrain/common.py",
        tests=["tests/test_pretrain_common.py",
               "tests/test_pretrained.py::test_equalized_lr_groups_and_ema_beta"],
        functions=["ema_update", "ema_beta", "cosine_lr", "shuffled_batch", "equalized_lr_param_groups"]),
    "ops": dict(
        module="gfplib/archs/ops.py",
        tests=["tests/test_archs_stylegan2.py", "tests/test_stylegan2_layers.py", "tests/test_archs_disc_arcface.py",
               "tests/test_golden.py"],
        functions=["make_resample_kernel", "upfirdn2d", "fused_leaky_relu", "ScaledLeakyReLU.forward",
                   "EqualLinear.forward", "EqualConv2d.forward", "ResDownBlock.forward"]),
    "stylegan2_clean": dict(
        module="gfplib/archs/stylegan2_clean.py",
        tests=["tests/test_archs_stylegan2.py", "tests/test_stylegan2_layers.py", "tests/test_golden.py"],
        functions=["NormStyleCode.forward", "modulated_weight", "modulation_terms", "ModulatedConv2d.forward",
                   "StyleConv.*", "ToRGB.forward", "*.styles_to_latent", "*.synthesis"]),
    "gfpgan_clean": dict(
        module="gfplib/archs/gfpgan_clean.py",
        tests=["tests/test_archs_gfpgan.py", "tests/test_golden.py"],
        functions=["cs_sft", "unet_channels", "ResBlock.forward", "StyleGAN2GeneratorCSFT.forward",
                   "GFPGANv1Clean.degradation_removal"]),
    "degradation": dict(
        module="gfplib/degradation.py",
        tests=["tests/test_degradation.py", "tests/test_degradation_exact.py", "tests/test_golden.py"],
        functions=["sigma_matrix", "mesh_grid", "gaussian_kernel", "*add_gaussian_noise", "_luma", "*to_gray",
                   "_blend", "_brightness", "_contrast", "_saturation", "_hue", "*quantize"]),
    "losses": dict(
        module="gfplib/losses.py",
        tests=["tests/test_losses.py", "tests/test_losses_exact.py", "tests/test_golden.py"],
        functions=["gram_matrix", "pyramid_targets", "pyramid_loss", "perceptual_style_loss", "d_logistic_loss",
                   "g_nonsaturating_loss", "r1_penalty", "bce_real_loss", "component_style_loss", "rgb_to_gray",
                   "identity_loss", "LossConfig.pyramid_weight", "_term_weights"]),
}

#: lines never mutated: error handling and message text (not the mathematics under test)
SKIP_LINES = [r"\braise\b", r"warnings\.warn", r"^\s+f?[\"']"]

_RESULT = re.compile(r"^\s*(\S+__mutmut_\d+): (.+)$")


def _mutant_patterns(module: str, functions) -> list:
    """mutmut's names: ``pkg.mod.x_func__mutmut_N`` and ``pkg.mod.xǁClassǁmethod__mutmut_N``."""
    dotted = module[:-3].replace("/", ".")
    out = []
    for f in functions:
        if f == "*":
            out.append(f"{dotted}.x*__mutmut_*")
        elif "." in f:
            cls, meth = f.split(".", 1)
            out.append(f"{dotted}.xǁ{cls}ǁ{meth}__mutmut_*")
        else:
            out.append(f"{dotted}.x_{f}__mutmut_*")
    return out


def _copy_tree(dst: Path, ref: str = "") -> None:
    """The working tree as git sees it (tracked + untracked, minus ignored and deleted files), or commit ``ref``."""
    if ref:
        archive = subprocess.run(["git", "archive", ref], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dst)], input=archive, check=True)
        return
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           check=True, capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)


def _setup_cfg(group: dict, tests) -> str:
    lines = ["[mutmut]", "source_paths=gfplib", f"only_mutate={group['module']}", "also_copy=data",
             "pytest_add_cli_args_test_selection=" + "\n  ".join(tests),
             "pytest_add_cli_args=-p\n  no:cacheprovider", "timeout_multiplier=5.0",
             "do_not_mutate_patterns=" + "\n  ".join(SKIP_LINES)]
    return "\n".join(lines) + "\n"


def _listed_mutants(report_path: str, module: str) -> list:
    """Mutant names a previous report lists (its survivors) for ``module``."""
    dotted = module[:-3].replace("/", ".") + "."
    names = re.findall(r"^## (\S+__mutmut_\d+):", Path(report_path).read_text(), flags=re.M)
    return [n for n in names if n.startswith(dotted)]


def run_group(name: str, group: dict, base: Path, jobs: int) -> dict:
    work = base / name
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    _copy_tree(work, os.environ.get("MUTATE_REF", ""))
    tests = [t for t in group["tests"] if (work / t.split("::")[0]).is_file()]  # test_golden.py may not exist yet
    if not (work / group["module"]).is_file() or not tests:
        return {"name": name, "module": group["module"], "skipped": "module or tests missing"}
    (work / "setup.cfg").write_text(_setup_cfg(group, tests))
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", GFPLIB_STATIC_WIDGETS="1",
               MPLBACKEND="agg", PYTHONHASHSEED="0")
    mutmut = [sys.executable, "-m", "mutmut"]
    patterns = _mutant_patterns(group["module"], group["functions"])
    if os.environ.get("MUTATE_RECHECK"):
        patterns = _listed_mutants(os.environ["MUTATE_RECHECK"], group["module"])
        if not patterns:
            return {"name": name, "module": group["module"], "skipped": "no listed mutants"}
    start = time.time()
    with open(work / "mutmut-run.log", "wb") as log:
        subprocess.run(mutmut + ["run", "--max-children", str(jobs)] + patterns, cwd=work, env=env, stdout=log,
                       stderr=subprocess.STDOUT)
    minutes = (time.time() - start) / 60
    out = subprocess.run(mutmut + ["results", "--all", "true"], cwd=work, env=env, capture_output=True, text=True)
    wanted = [re.compile("^" + re.escape(p).replace(r"\*", ".*") + "$") for p in patterns]
    status = {}
    for line in out.stdout.splitlines():
        m = _RESULT.match(line)
        if m and any(w.match(m.group(1)) for w in wanted):
            status[m.group(1)] = m.group(2).strip()
    survivors = {}
    for mutant, st in status.items():
        if st not in ("killed",):
            shown = subprocess.run(mutmut + ["show", mutant], cwd=work, env=env, capture_output=True, text=True)
            survivors[mutant] = (st, shown.stdout.strip())
    return {"name": name, "module": group["module"], "tests": tests, "minutes": minutes,
            "total": len(status), "killed": sum(s == "killed" for s in status.values()), "survivors": survivors}


def report(results) -> str:
    lines = ["# Mutation testing report (mutmut)", "",
             "| group | module | mutants | killed | not killed | minutes |", "|---|---|---|---|---|---|"]
    for r in results:
        if "skipped" in r:
            lines.append(f"| {r['name']} | {r['module']} | – | – | – | skipped: {r['skipped']} |")
        else:
            lines.append(f"| {r['name']} | {r['module']} | {r['total']} | {r['killed']} | {len(r['survivors'])} "
                         f"| {r['minutes']:.1f} |")
    for r in results:
        for mutant, (st, diff) in r.get("survivors", {}).items():
            lines += ["", f"## {mutant}: {st}", "", "```diff", diff, "```"]
    return "\n".join(lines) + "\n"


def main(argv) -> int:
    names = argv or list(GROUPS)
    unknown = [n for n in names if n not in GROUPS]
    if unknown:
        print(f"unknown group(s) {unknown}; groups: {', '.join(GROUPS)}", file=sys.stderr)
        return 2
    base = Path(os.environ.get("MUTATE_DIR", "/tmp/gfplib-mutate"))
    jobs = int(os.environ.get("MUTATE_JOBS", "1"))
    results = []
    out = ROOT / os.environ.get("MUTATE_REPORT", "mutants/report.md")
    out.parent.mkdir(exist_ok=True)
    for n in names:
        print(f"[mutate] {n}: {GROUPS[n]['module']} …", flush=True)
        results.append(run_group(n, GROUPS[n], base, jobs))
        out.write_text(report(results))  # a partial report survives an interrupted run
        r = results[-1]
        print(f"[mutate] {n}: " + (r.get("skipped") or f"{r['killed']}/{r['total']} killed, "
                                   f"{len(r['survivors'])} not killed, {r['minutes']:.1f} min"), flush=True)
    print(f"[mutate] report: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

# gfplearn — two commands for a fresh machine:
#   make lab    create/refresh .venv, then open the notebook series in JupyterLab
#   make test   create/refresh .venv, then run every test (pytest + nbval of every notebook)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Widgets render as static figures when notebooks run headless (nbval, `make notebooks`); see gfplib/widgets.py.
HEADLESS := GFPLIB_STATIC_WIDGETS=1 MPLBACKEND=agg PYTHONHASHSEED=0
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))

.PHONY: venv lab test test-py test-nb test-slow test-browser book notebooks student bench train-toy mutate clean-venv

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	# offline MTCNN detector (weights inside the wheel); its metadata pins an old torch, hence --no-deps
	$(BIN)/python -m pip install -q --no-deps facenet-pytorch==2.6.0
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

venv: $(STAMP)

# JupyterLab refuses to run as root (containers, cloud VMs) unless told explicitly.
LAB_FLAGS := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: venv
	$(BIN)/jupyter lab $(LAB_FLAGS) notebooks

test: venv
	$(HEADLESS) $(BIN)/python -m pytest -q tests
	$(HEADLESS) $(BIN)/python -m pytest -q -p no:cacheprovider --nbval --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg $(NOTEBOOKS)

test-py: venv
	$(HEADLESS) $(BIN)/python -m pytest -q tests

test-nb: venv
	$(HEADLESS) $(BIN)/python -m pytest -q -p no:cacheprovider --nbval --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg $(NOTEBOOKS)

test-slow: venv
	$(HEADLESS) $(BIN)/python -m pytest -q -m slow tests

# Every widget moved in headless Chromium inside JupyterLab, the book built offline and looked at (tests marked
# `browser`, ~5 min). Needs the system Chromium (Debian: apt-get install chromium; .ci/run installs it as root);
# without it the tests skip and say what to install. Screenshots: test-artifacts/.
$(VENV)/.browser: requirements-browser.txt $(STAMP)
	$(BIN)/python -m pip install -q -r requirements-browser.txt
	touch $@

test-browser: $(VENV)/.browser
	$(HEADLESS) $(BIN)/python -m pytest -q -m browser tests

# The series as a static website with its stored outputs (tools/build_book.py, nbconvert, no network needed).
book: venv
	$(BIN)/python tools/build_book.py -o _build/book

# Re-execute every notebook headless and store its outputs, so stored outputs always come from the current code.
# One notebook: make notebooks NOTEBOOKS=notebooks/01_degradation.ipynb
notebooks: venv
	for nb in $(NOTEBOOKS); do \
		$(HEADLESS) $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
			--ExecutePreprocessor.timeout=900 --ExecutePreprocessor.kernel_name=python3 \
			--ExecutePreprocessor.store_widget_state=False $$nb || exit 1; \
	done

# The student version: each notebook with its coding-exercise solutions replaced by stubs that raise
# NotImplementedError (folded <details> solutions stay), written to student/. One notebook:
# make student NOTEBOOKS=notebooks/01_degradation.ipynb
student:
	$(PYTHON) tools/strip_solutions.py $(NOTEBOOKS) -o student

# Train the toy GFPGAN (32², CPU, offline) into data/; run again to resume from runs/gfpgan_toy after a stop.
train-toy: venv
	$(BIN)/python -m gfplib.train --profile toy --out data/toy_gfpgan_32.pth

bench: venv
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

# Mutation testing of the mathematical core (tools/mutate.py; not part of `make test`, ~1 h on 2 cores).
# Runs on copies under $(MUTATE_DIR) and writes mutants/report.md. One group: make mutate GROUPS=losses
MUTATE_DIR ?= /tmp/gfplib-mutate
GROUPS ?=
mutate: venv
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	MUTATE_DIR=$(MUTATE_DIR) $(BIN)/python tools/mutate.py $(GROUPS)

clean-venv:
	rm -rf $(VENV)

# The course's two main commands (see README.md):
#   make run    set up .venv, then execute every notebook headless (quick mode) -> build/
#   make test   set up .venv, then run the whole test suite, notebooks included (what CI runs)
#   make test-fast   the inner loop: every test not marked `notebook` or `slow` (see pyproject.toml)
#   make site   the course as a static website from build/executed (run `make run` first) -> build/site/index.html
#   make publish REPO=owner/name [REF=main]   point notebooks, badges and docs at the published repository
# Options: make run ARGS="--full --device cuda --only 05"   |   make test PYTEST_ARGS="-k data"
# test, test-fast and site also install requirements-dev.txt (Jupyter Book, Playwright, actionlint).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: setup setup-dev run test test-fast lab labs site publish clean

setup: $(STAMP)

setup-dev: $(DEV_STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(DEV_STAMP)

run: $(STAMP)
	$(BIN)/python -m helpers.runner $(ARGS)

test: $(DEV_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(DEV_STAMP)
	$(BIN)/python -m pytest -m "not notebook and not slow" $(PYTEST_ARGS)

lab: $(STAMP)
	$(BIN)/jupyter lab course/ $(LAB_ARGS)

labs: $(STAMP)
	$(BIN)/python -m helpers.labs build

site: $(DEV_STAMP)
	$(BIN)/python -m helpers.site build

publish: $(STAMP)
	$(BIN)/python -m helpers.publish $(if $(REPO),--repo $(REPO)) $(if $(REF),--ref $(REF))

clean:
	rm -rf build .pytest_cache

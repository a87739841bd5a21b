# The course's two main commands (see README.md):
#   make run    set up .venv, then execute every notebook headless (quick mode) -> build/
#   make test   set up .venv, then run the whole test suite, notebooks included (what CI runs)
#   make test-fast   the inner loop: every test not marked `notebook` or `slow` (see pyproject.toml)
# Options: make run ARGS="--full --device cuda --only 05"   |   make test PYTEST_ARGS="-k data"

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup run test test-fast lab labs clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m helpers.runner $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not notebook and not slow" $(PYTEST_ARGS)

lab: $(STAMP)
	$(BIN)/jupyter lab course/

labs: $(STAMP)
	$(BIN)/python -m helpers.labs build

clean:
	rm -rf build .pytest_cache

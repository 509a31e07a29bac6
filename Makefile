# The two commands a newcomer runs: `make demo` and `make test`.
# Each creates .venv from nothing when it is missing and installs what it needs.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO   ?= demo-out

.PHONY: demo test bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamp files make re-runs fast while re-installing when pyproject.toml changes.
# pip compiles every module it installs to bytecode on one core (~30 s for dev's packages);
# compileall -j 0 does it on every core. It must be done here: where PYTHONDONTWRITEBYTECODE
# is set (as on CI) no test process would write what it compiles, and each would compile
# pandas and the rest again. A file that does not compile (a package's Python 2 fixtures)
# is only left uncompiled, as pip leaves it.
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --no-compile -e ".[dev]"
	$(BIN)/python -m compileall -q -j 0 "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" >/dev/null || true
	touch $@

$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[demo]"
	touch $@

install: $(VENV)/.installed-dev

demo: $(VENV)/.installed-demo
	PATH="$(CURDIR)/$(BIN):$$PATH" VIRTUAL_ENV="$(CURDIR)/$(VENV)" bash sample_project/demo.sh "$(DEMO)"

# Tests run in parallel worker processes, a test file per worker at a time (module-scoped
# fixtures are built once); most tests wait on git and mlver subprocesses, so on 2 cores
# 3 workers finish sooner than 2.
WORKERS ?= 3

test: $(VENV)/.installed-dev
	$(BIN)/python -m ruff check mlver/
	# Compiled once here: every test starts many mlver processes, and with
	# PYTHONDONTWRITEBYTECODE set none of them would write the bytecode it compiles.
	$(BIN)/python -m compileall -q mlver
	# mypy (one core, ~40 s) runs beside the tests, which leave about a fifth of the two
	# cores idle while they wait on subprocesses; its verdict counts as much as theirs.
	@$(BIN)/python -m mypy --strict mlver/ > .mypy-out.txt 2>&1 & types=$$!; \
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadfile; tests=$$?; \
	wait $$types; typed=$$?; echo "mypy --strict mlver/:"; cat .mypy-out.txt; \
	rm -f .mypy-out.txt; [ $$tests -eq 0 ] && [ $$typed -eq 0 ]

bench: $(VENV)/.installed-dev
	$(BIN)/python -m pip install --quiet -e ".[dvc]"
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache

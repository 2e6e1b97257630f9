# The two targets that matter: `make run` and `make test`. Everything else is a step of theirs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lint unit bench conformance lock clean schemas bytecode

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	$(MAKE) --no-print-directory bytecode
	touch $(STAMP)

# pip compiles what it installs, but not an editable project's own modules;
# where PYTHONDONTWRITEBYTECODE is set, every start compiled them again (about
# 0.15 s of `emporium up`). A module edited since is compiled at import, as before.
bytecode:
	$(BIN)/python -m compileall -q src > /dev/null

install: $(STAMP)

run: install bytecode
	$(BIN)/emporium up

schemas: install
	$(BIN)/python -m emporium.contracts.compat src/emporium/contracts/schemas

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy --strict src tests bench
	$(BIN)/lint-imports

# Two worker processes (pytest-xdist), a whole module to each: most of the
# suite waits on systems, brokers and browsers, so two run in about half the
# time. `make test WORKERS=0` runs it in one process; plain `pytest` too.
test: lint
	$(BIN)/pytest -n $(or $(WORKERS),2) --dist loadfile

unit: install
	$(BIN)/pytest tests/unit

bench: install bytecode
	$(BIN)/python -m bench.run

# The full API conformance run (schemathesis, every check and phase, as a
# customer and as an admin); `make test` runs a bounded one.
conformance: install
	$(BIN)/python -m tests.contract.conformance --max-examples $(or $(EXAMPLES),100)

# Re-pin every dependency (dev lock for .venv, runtime lock for the image).
lock:
	uv pip compile pyproject.toml --extra dev -o requirements.lock --python-version 3.11
	uv pip compile pyproject.toml -o requirements.runtime.lock --python-version 3.11 -c requirements.lock

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache

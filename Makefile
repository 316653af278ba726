# Quick start: `make demo` and `make test`; both build .venv from the pinned lock file first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test quick lint typecheck pytest bench clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	@mkdir -p demo-out
	$(BIN)/deel-batch worker-tokens --simulate sample_inputs/profiles.csv \
		-o demo-out/tokens.jsonl --errors demo-out/errors.csv --log-format console; \
	rc=$$?; echo "exit code $$rc (1 = some records are errors, as the sample input has invalid rows); results in demo-out/"; \
	test $$rc -le 1

lint: $(STAMP)
	$(BIN)/ruff check batch jobs tests bench examples
	$(BIN)/ruff format --check batch jobs tests bench examples

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

test: lint typecheck pytest

# The inner loop: the tests not marked slow (no subprocesses, no long scenarios).
quick: $(STAMP)
	$(BIN)/pytest -m "not slow"

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -r bench/requirements.txt
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) demo-out .mypy_cache .ruff_cache .pytest_cache

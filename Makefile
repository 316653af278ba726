# Quick start: `make demo` and `make test`; both build .venv from the pinned lock files first
# (requirements.lock: what deel-batch needs to run; requirements-dev.lock: it, plus the tools).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

PKG_VENV := dist/venv
PROMTOOL := $(VENV)/tools/promtool

.PHONY: demo test quick lint typecheck pytest package bench clean

$(STAMP): pyproject.toml requirements.lock requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	@rm -rf demo-out && mkdir -p demo-out  # a fresh demo each time: results files are never overwritten silently
	@echo "== 1. mint a worker token per profile ID"
	@$(BIN)/deel-batch worker-tokens --simulate sample_inputs/profiles.csv \
		-o demo-out/tokens.jsonl --errors demo-out/errors.csv --log-format console; \
	rc=$$?; echo "exit code $$rc (1 = some records are errors, as the sample input has invalid rows)"; \
	test $$rc -le 1
	@echo "== 2. revoke every token in the results file (recorded in it too)"
	@$(BIN)/deel-batch revoke-tokens --simulate demo-out/tokens.jsonl \
		-o demo-out/revoked.jsonl --log-format console; \
	rc=$$?; echo "exit code $$rc (the invalid rows of the results file are invalid again)"; \
	test $$rc -le 1
	@echo "== 3. --resume: new tokens for exactly the revoked IDs"
	@$(BIN)/deel-batch worker-tokens --simulate sample_inputs/profiles.csv \
		-o demo-out/tokens.jsonl --resume --log-format console; \
	rc=$$?; echo "exit code $$rc; results in demo-out/"; \
	test $$rc -le 1

lint: $(STAMP)
	$(BIN)/ruff check batch jobs tests bench examples
	$(BIN)/ruff format --check batch jobs tests bench examples

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) $(PROMTOOL)
	$(BIN)/pytest

# promtool, Prometheus's rule tester, for tests/cli/test_alert_recipe.py (the PromQL of the
# alert recipe in docs/nightly.md, evaluated for real): taken out of Debian's prometheus
# package, never installed (no service). Where apt cannot fetch it the test is skipped,
# except under CI, where it fails.
$(PROMTOOL):
	@mkdir -p $(VENV)/tools
	-@cd $(VENV)/tools && rm -rf deb && mkdir deb && cd deb \
		&& { apt-get download prometheus >/dev/null 2>&1 \
			|| { apt-get update -qq >/dev/null 2>&1 && apt-get download prometheus >/dev/null 2>&1; }; } \
		&& dpkg-deb -x prometheus_*.deb x && cp x/usr/bin/promtool ../promtool \
		&& cd .. && rm -rf deb && ./promtool --version | head -1

test: lint typecheck pytest package

# The sdist and wheel, built by the setuptools of pyproject.toml's floor (pinned in
# requirements-dev.lock), checked by twine; then the wheel installed into a clean venv with
# the runtime pins only: deel-batch must run there, and no development tool may come along.
package: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --no-isolation --outdir dist . > /dev/null
	rm -rf build *.egg-info
	$(BIN)/twine check --strict dist/*
	$(PYTHON) -m venv $(PKG_VENV)
	$(PKG_VENV)/bin/python -m pip install --quiet -r requirements.lock dist/*.whl
	$(PKG_VENV)/bin/deel-batch --version
	cd dist && venv/bin/python ../examples/migration_script.py > /dev/null
	cd dist && venv/bin/deel-batch worker-tokens --simulate ../sample_inputs/profiles.csv \
		-o out.jsonl --log-format json 2> /dev/null; test $$? -eq 1
	cd dist && venv/bin/deel-batch revoke-tokens --simulate out.jsonl \
		-o revoked.jsonl --log-format json 2> /dev/null; test $$? -eq 1
	@! $(PKG_VENV)/bin/python -m pip list --format=freeze | grep -iE '^(mypy|ruff|pytest|trustme|cryptography|build|twine)=' \
		|| (echo "development tools were installed with the package"; exit 1)
	@echo "package ok: $$(ls dist/*.whl dist/*.tar.gz | tr '\n' ' ')"

# The inner loop: the tests not marked slow (no long scenarios, no real waiting), on every
# core (pytest-xdist): about 20 s on two. `make test` runs the whole suite in one process,
# so the timing tests of the slow tier never share the machine with the rest.
quick: $(STAMP) $(PROMTOOL)
	$(BIN)/pytest -m "not slow" -n auto

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -r bench/requirements.txt
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) demo-out dist build .mypy_cache .ruff_cache .pytest_cache

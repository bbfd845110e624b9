# Every target installs what it needs: on a fresh clone only python3 must exist.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.docs-installed
GEN_PKG := generated/flux_canny_api
GEN_CMD  = $(VENV)/bin/openapi-python-client generate --path openapi.json \
           --config openapi-python-client.yaml --meta none --overwrite
PYTEST_ARGS ?=
# one worker more than the cores: many trials wait on sockets, sleeps and child processes
# (on 2 cores: 3 workers, 50 s; 2 workers, 57 s)
WORKERS ?= $(shell $(PYTHON) -c "import os; print((os.cpu_count() or 1) + 1)")

.PHONY: install spec generate check-generated test test-thorough lint docs demo bench spec-diff sync-spec clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[all]' --group dev
	touch $(STAMP)

## Rebuild openapi.json: BFL's published document (spec/upstream/) + the seed's overlay.
spec: $(STAMP)
	$(PY) tools/build_spec.py

## Rewrite generated/ and the packaged spec copy from openapi.json.
generate: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(GEN_CMD) --output-path $(GEN_PKG)
	touch $(GEN_PKG)/py.typed  # typed for users' mypy (the generator's --meta none omits it)
	cp openapi.json wrapper/flux_canny/openapi.json
	$(PY) tools/gen_params.py openapi.json
	@# the contract suite's oracle models, from the same spec (a checkout without tests/ skips it)
	if [ -d tests/contract ]; then $(PY) -m tests.contract.spec_oracle; fi

## Fail with the diff when openapi.json is not upstream + overlay, or generated/ has drifted
## (regenerated into a temporary directory).
check-generated: $(STAMP)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	spec=0 && { $(PY) tools/build_spec.py --check || spec=1; } && \
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(GEN_CMD) --output-path "$$tmp/flux_canny_api" >/dev/null && \
	touch "$$tmp/flux_canny_api/py.typed" && \
	status=0 && \
	{ diff -ru "$(GEN_PKG)" "$$tmp/flux_canny_api" -x __pycache__ || status=1; } && \
	{ diff -u openapi.json wrapper/flux_canny/openapi.json || status=1; } && \
	{ $(PY) tools/gen_params.py openapi.json --check || status=1; } && \
	if [ $$status -ne 0 ]; then echo "generated/ or the packaged spec is out of date with openapi.json: run 'make generate'" >&2; fi && \
	if [ $$spec -ne 0 ] || [ $$status -ne 0 ]; then exit 1; fi && \
	echo "openapi.json is upstream + overlay; generated/ matches it"

test: $(STAMP)
	@# bytecode once, as an installed wheel has it: the trials start many processes, and
	@# PYTHONDONTWRITEBYTECODE=1 would otherwise compile the package in each of them
	@$(PY) -m compileall -q wrapper generated >/dev/null
	$(PY) -m pytest --hypothesis-profile=ci -q -n $(WORKERS) --dist worksteal $(PYTEST_ARGS)

test-thorough: $(STAMP)
	$(PY) -m pytest --hypothesis-profile=thorough --hypothesis-show-statistics -q -n $(WORKERS) --dist worksteal --timeout=1800 $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check wrapper tests bench tools
	$(VENV)/bin/ruff format --check wrapper tests bench tools
	$(VENV)/bin/mypy --strict wrapper/flux_canny
	$(VENV)/bin/lint-imports --no-cache

## The documentation site, docs/ -> site/; --strict: a broken link or reference fails.
## Its tools (the docs group) are installed in .venv on first use, beside make install's.
docs: $(DOCS_STAMP)
	@# NO_MKDOCS_2_WARNING: Material prints a banner about its successor on every build
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

$(DOCS_STAMP): $(STAMP)
	$(PY) -m pip install --quiet --group docs
	touch $(DOCS_STAMP)

demo: $(STAMP)
	$(PY) -m flux_canny.demo

bench: $(STAMP)
	$(PY) bench/run.py

## make spec-diff NEW=path/to/new-openapi.json [OLD=openapi.json]
OLD ?= openapi.json
spec-diff: $(STAMP)
	@test -n "$(NEW)" || { echo "usage: make spec-diff NEW=path/to/new-openapi.json" >&2; exit 2; }
	$(VENV)/bin/flux-canny spec-diff $(OLD) $(NEW)

## make sync-spec SPEC=path/to/bfl-openapi.json: BFL's new document replaces spec/upstream/;
## re-apply the overlay, diff, regenerate, rerun the contract suite
sync-spec: $(STAMP)
	@test -n "$(SPEC)" || { echo "usage: make sync-spec SPEC=path/to/new-openapi.json" >&2; exit 2; }
	$(PY) tools/sync_spec.py $(SPEC)

clean:
	rm -rf $(VENV) out build dist site

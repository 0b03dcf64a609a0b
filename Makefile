# optserve: `make up` starts the stack, `make test` installs everything and runs the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install up test compose-test bench gpu-check lint typecheck docs figures gallery clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

WORKERS ?= 1
up: install
	$(BIN)/optserve up --workers $(WORKERS)

test: install
	$(BIN)/pip install --quiet 'torch==2.13.0' || echo "torch peer tests will skip"
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# Builds the images and runs the containerised stack end to end (root; about 5 minutes).
compose-test: install
	timeout 900 $(BIN)/python tests/compose/run.py

bench: install
	$(BIN)/pip install --quiet 'torch==2.13.0' || echo "torch baseline skipped"
	$(BIN)/python bench/run_all.py

# On a machine with an NVIDIA GPU: builds the GPU worker's environment (.venv-gpu, with
# jax[cuda12]), then runs a 1M-run sweep and a 1001 x 1001 landscape against bare JAX there.
gpu-check:
	$(PYTHON) -m venv .venv-gpu
	.venv-gpu/bin/pip install --quiet --upgrade pip
	.venv-gpu/bin/pip install --quiet -e '.[gpu]'
	XLA_PYTHON_CLIENT_PREALLOCATE=false .venv-gpu/bin/python bench/gpu_check.py --require-gpu

# The README's pictures, drawn by optserve itself from real runs.
figures: install
	$(BIN)/optserve run examples/figure1.json -o .optserve-figure1.json > /dev/null
	$(BIN)/optserve plot .optserve-figure1.json --kind contour -o docs/figure1.png
	$(BIN)/optserve run examples/figure2.json -o .optserve-figure2.json > /dev/null
	$(BIN)/optserve plot .optserve-figure2.json --kind surface -o docs/figure2.png
	rm -f .optserve-figure1.json .optserve-figure2.json

# The optimizer gallery (docs/gallery.md, docs/gallery/*.png) and the tuned learning rates that
# GET /v1/optimizers publishes: every optimizer tuned on Rosenbrock and Rastrigin.
gallery: install
	$(BIN)/python examples/draw_gallery.py

# mypy (typecheck), then ruff; .ci/run runs it before the tests.
lint: install typecheck
	$(BIN)/ruff check optcore worker api optserve tests bench
	$(BIN)/ruff format --check optcore worker api optserve tests bench

# mypy with pyproject's configuration: strict on optcore, checked bodies everywhere.
typecheck: install
	$(BIN)/mypy optcore worker api optserve

# docs/optimizers.md from the catalog: run after changing an optimizer, commit the result.
docs: install
	$(BIN)/python -m api.docs > docs/optimizers.md

clean:
	rm -rf $(VENV) .venv-gpu .pytest_cache .ruff_cache

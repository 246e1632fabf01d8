# Two commands: `make demo` and `make test`. Both set up everything they need
# from a fresh clone (Python venv, npm test servers); nothing is assumed installed
# beyond python3 (>= 3.11), node (>= 18) and npm.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test lint typecheck unit bench fuzz clean check-node lambda-asset

$(VENV)/.dev: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("amistate needs Python >= 3.11, found " + sys.version) if sys.version_info < (3, 11) else None'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

$(VENV)/.demo: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[demo]'
	touch $@

check-node:
	@command -v node >/dev/null 2>&1 || { echo "error: Node.js >= 18 is required (dynalite and the CDK's jsii runtime run on it); install it, e.g. 'apt-get install nodejs npm'" >&2; exit 1; }
	@node -e 'const v=+process.versions.node.split(".")[0]; if (v < 18) { console.error("error: Node.js >= 18 is required, found " + process.version); process.exit(1) }'

node_modules/.installed: package.json package-lock.json | check-node
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: $(VENV)/.demo
	$(VENV)/bin/amistate demo

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.dev
	$(VENV)/bin/mypy

unit: $(VENV)/.dev node_modules/.installed
	$(VENV)/bin/pytest

test: lint typecheck unit

bench: $(VENV)/.dev node_modules/.installed
	$(PY) -m bench

fuzz: $(VENV)/.dev
	$(PY) -m pip install --quiet atheris
	$(PY) tests/fuzz/fuzz_parsing.py -atheris_runs=200000

# The Lambda code of examples/cdk, built without Docker: amistate (with its adapters)
# and its pure-Python dependencies for the python3.12 runtime. boto3/botocore are
# not bundled: the Lambda Python runtime provides them. --no-compile keeps the
# asset's hash stable, so an unchanged package does not redeploy the functions.
lambda-asset: $(VENV)/.dev
	rm -rf .lambda-asset
	$(PY) -m pip install --quiet --no-deps --no-compile --target .lambda-asset .
	$(PY) -m pip install --quiet --no-deps --no-compile --target .lambda-asset \
		--only-binary=:all: --implementation py --python-version 3.12 \
		'attrs>=25.4' 'cattrs>=24.1' 'typing-extensions>=4.14'
	rm -rf .lambda-asset/bin

clean:
	rm -rf $(VENV) node_modules .mypy_cache .pytest_cache .ruff_cache examples/cdk/cdk.out .lambda-asset

# Two commands: `make demo` and `make test`. Both set up everything they need
# from a fresh clone (Python venv, npm test servers); nothing is assumed installed
# beyond python3 (>= 3.11), node (>= 18) and npm.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The suite runs on every core (pytest-xdist; one test file per worker at a time).
PYTEST_WORKERS ?= auto
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# jsii (the CDK's bridge from Python to Node.js) prints a 12-line banner, relayed as Python
# bytes reprs, on every start under a Node.js past jsii's support window (18 and 20 today)
# or newer than it has tested. The CDK works on them; docs/getting-started.md says which
# Node.js the CDK supports. Silenced for make test and make synth (and by examples/cdk).
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION ?= 18,20
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION ?= 1
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION ?= 1

.PHONY: demo test lint typecheck unit bench fuzz clean check-node lambda-asset synth

$(VENV)/.dev: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("amistate needs Python >= 3.11, found " + sys.version) if sys.version_info < (3, 11) else None'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# --no-compile: no bytecode for the ~8,000 modules installed (aws-cdk-lib alone is 175 MB
	# of source, half a minute to compile on 2 cores); Python compiles and caches the few
	# hundred a run imports, at their first import.
	$(PY) -m pip install --quiet --no-compile -e '.[dev]'
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
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile

# mypy (one core, about a minute on a fresh clone: it reads the CDK library the example
# types against) runs beside the suite, whose workers leave cores idle while they wait on
# servers and subprocesses. Each prints when it is done (mypy first, the suite's summary
# last); either failing fails the target.
test: lint
	$(MAKE) --no-print-directory -j2 --output-sync=target typecheck unit

bench: $(VENV)/.dev node_modules/.installed
	$(PY) -m bench --update-doc

fuzz: $(VENV)/.dev
	$(PY) -m pip install --quiet atheris
	$(PY) tests/fuzz/fuzz_parsing.py -atheris_runs=200000

# The Lambda code of examples/cdk, built without Docker: amistate (with its adapters)
# and its pure-Python dependencies, plus their bytecode. boto3/botocore are not
# bundled: the Lambda Python runtime provides them.
# * LAMBDA_PYTHON chooses the runtime (default: the building interpreter); it must be
#   installed here, since it compiles the bytecode: `make lambda-asset LAMBDA_PYTHON=python3.12`.
# * The dependencies are installed for that version (--python-version), and the .pyc files
#   are compiled by that interpreter: a read-only Lambda package cannot cache bytecode,
#   so without them every cold start compiles amistate, attrs and cattrs from source.
# * Deterministic, so an unchanged package keeps its asset hash and does not redeploy:
#   unchecked-hash .pyc (no mtime), PYTHONHASHSEED=0 (set order in constants), source
#   paths recorded as /var/task/..., no direct_url.json (it names this checkout's path) nor its line in RECORD.
# * $(LAMBDA_ASSET)/RUNTIME holds the Lambda runtime's name (one line, e.g. python3.12);
#   the CDK example reads it. LAMBDA_ASSET and LAMBDA_SOURCE move the output and the source
#   tree (tests/bench/test_lambda_asset.py builds from snapshots).
LAMBDA_PYTHON ?= $(PY)
LAMBDA_ASSET ?= .lambda-asset
LAMBDA_SOURCE ?= .

lambda-asset: $(VENV)/.dev
	@command -v $(LAMBDA_PYTHON) >/dev/null 2>&1 || { echo "error: LAMBDA_PYTHON=$(LAMBDA_PYTHON) is not installed here; it compiles the package's bytecode" >&2; exit 1; }
	@$(LAMBDA_PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "amistate needs Python >= 3.11, LAMBDA_PYTHON is " + sys.version)'
	rm -rf $(LAMBDA_ASSET)
	$(PY) -m pip install --quiet --no-deps --no-compile --target $(LAMBDA_ASSET) $(LAMBDA_SOURCE)
	$(PY) -m pip install --quiet --no-deps --no-compile --target $(LAMBDA_ASSET) \
		--only-binary=:all: --implementation py \
		--python-version $$($(LAMBDA_PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])') \
		'attrs>=25.4' 'cattrs>=24.1' 'typing-extensions>=4.14'
	rm -rf $(LAMBDA_ASSET)/bin $(LAMBDA_ASSET)/*.dist-info/direct_url.json
	$(PY) -c 'import pathlib, sys; [p.write_text("".join(l for l in p.read_text().splitlines(True) if "/direct_url.json," not in l)) for p in pathlib.Path(sys.argv[1]).glob("*.dist-info/RECORD")]' $(LAMBDA_ASSET)
	PYTHONHASHSEED=0 $(LAMBDA_PYTHON) -m compileall -q -j 0 --invalidation-mode unchecked-hash \
		-s $(LAMBDA_ASSET) -p /var/task $(LAMBDA_ASSET)
	$(LAMBDA_PYTHON) -c 'import sys; print("python%d.%d" % sys.version_info[:2])' > $(LAMBDA_ASSET)/RUNTIME

# The CDK example, synthesized offline (examples/cdk/README.md): no AWS account, no
# credentials (the stack is environment-agnostic; the CLI is given none, so it calls no AWS
# API and no instance metadata), no telemetry, no notices, no Docker. It builds what it
# needs: the venv, node_modules (the CDK CLI pinned in package.json), the Lambda package.
synth: $(VENV)/.dev node_modules/.installed lambda-asset
	. $(VENV)/bin/activate && cd examples/cdk && \
		env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE \
		AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true \
		CDK_DISABLE_CLI_TELEMETRY=true CDK_DISABLE_VERSION_CHECK=true \
		npx --no-install cdk synth --quiet --no-notices -c assetDir=$(abspath $(LAMBDA_ASSET))

clean:
	rm -rf $(VENV) node_modules .mypy_cache .pytest_cache .ruff_cache examples/cdk/cdk.out .lambda-asset

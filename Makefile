# Two commands do all set-up on a fresh machine:
#   make run   - the pipelines end to end on the local AWS emulator, with a summary
#   make test  - the whole test suite
#   make airflow - the Airflow UI on the local emulator until Ctrl-C (AIRFLOW_PORT, default 8080)
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)/dags:$(CURDIR)/plugins:$(CURDIR)/include

.PHONY: venv sdk-venv tools-venv browser redis run airflow test emulator datasets bench bench-parse clean reap

venv:
	@bash include/dev/bootstrap.sh

sdk-venv:
	@bash include/sdk_oracle/bootstrap.sh

tools-venv:
	@bash include/dev/tools_venv.sh

run: venv
	@bash include/dev/run_pipelines.sh

airflow: venv
	@bash include/dev/airflow_ui.sh --port $${AIRFLOW_PORT:-8080}

# The linter first (rules in pyproject.toml), then every test with the 15 slowest printed, so a slow-down shows.
# The fast loop while editing: $(PY) -m pytest -m "not e2e"
test: venv sdk-venv tools-venv browser redis
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(PY) -m pytest --durations=15 $(PYTEST_ARGS)

browser: venv
	@bash include/dev/browser_setup.sh

redis:
	@bash include/dev/redis_setup.sh

emulator: venv
	$(PY) -m aws_emulator --port $${EMULATOR_PORT:-4566}

datasets: venv
	$(PY) -m local_datasets serve --dir .local/datasets --port $${DATASET_PORT:-8765}

# Upload benchmark on the book-sized batch1 (4,000 training images): upload_tree vs `aws s3 cp --recursive` (the
# AWS CLI v1 from .venv-tools) vs a sequential loop, at 100 and 200 ms simulated S3 latency (several minutes).
bench: bench-parse venv tools-venv
	$(PY) include/dev/bench_upload.py $(BENCH_ARGS)

# Parse time of each DAG file vs an empty DAG importing the provider's SageMaker/S3 operators (fresh interpreters,
# median of 5, import + build + serialize as the dag-processor does); fails when one is over 1.25x (about 2 minutes).
bench-parse: venv
	$(PY) include/dev/bench_parse.py --check $(BENCH_PARSE_ARGS)

# The reaper's sweep from here (the DAG's code path, docs/reaper.md): everything of the package in the account with
# its cost per hour. A dry run unless APPLY=1. CONN=<Airflow connection id> uses that connection, else boto3's
# default chain (AWS_PROFILE, AWS_REGION; AWS_ENDPOINT_URL=http://127.0.0.1:4566 for the emulator).
reap: venv
	@$(PY) include/dev/reap.py $(if $(APPLY),--apply) $(if $(CONN),--conn-id $(CONN)) $(if $(REGION),--region $(REGION)) $(REAP_ARGS)

clean:
	rm -rf $(VENV) .venv-sdk .venv-tools .local build .pytest_cache
	@echo "make clean removed the venvs, .local/, build/ and .pytest_cache; it leaves the Debian packages make test" \
	  "may have installed (chromium, fonts-liberation, redis-server): remove them with" \
	  "sudo apt-get remove chromium fonts-liberation redis-server"

# MWAA: build/mwaa/ holds exactly what MWAA syncs (dags/, plugins.zip, requirements.txt); deploy-mwaa prints its
# plan, touches only the keys its manifest in the bucket says it owns, refuses to replace another team's
# requirements.txt/plugins.zip unless told (FORCE_REQUIREMENTS=1, FORCE_PLUGINS=1, TAKE_OVER=1), and updates the
# environment only when plugins.zip or requirements.txt changed (include/mwaa/README.md). DRY_RUN=1: the plan only.
#   make bundle
#   make deploy-mwaa ENV=<mwaa-environment> BUCKET=<source-bucket> [REGION=<region>] [DRY_RUN=1]
.PHONY: bundle deploy-mwaa

bundle: venv
	@$(PY) include/mwaa/build_bundle.py --out build/mwaa

deploy-mwaa: bundle
	@test -n "$(ENV)" -a -n "$(BUCKET)" || { echo "usage: make deploy-mwaa ENV=<mwaa-environment> BUCKET=<bucket> [REGION=<region>] [DRY_RUN=1]" >&2; exit 2; }
	@$(PY) include/mwaa/deploy.py --environment "$(ENV)" --bucket "$(BUCKET)" --bundle build/mwaa $(if $(REGION),--region "$(REGION)") $(if $(DRY_RUN),--dry-run) \
	  $(if $(FORCE_REQUIREMENTS),--force-requirements) $(if $(FORCE_PLUGINS),--force-plugins) $(if $(TAKE_OVER),--take-over)

# The real Airflow services (api-server, scheduler, dag-processor, triggerer on SQLite) with the emulator: pipeline 1
# triggered through the REST API with deferred SageMaker waits, and each DAG's Trigger form in headless Chromium
# (include/dev/browser_setup.sh installs Debian's chromium and the Playwright client). Screenshots: .local/artifacts/
# Also pipeline 1 on CeleryExecutor (Debian's redis-server, include/dev/redis_setup.sh; two workers) and make airflow.
.PHONY: services-test
services-test: venv browser redis
	@$(PY) -m pytest tests/test_real_services.py tests/test_ui_browser.py tests/test_celery_services.py \
		tests/test_make_airflow.py -q -s -n 0 $(PYTEST_ARGS)

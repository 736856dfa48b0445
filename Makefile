# Two commands on a fresh machine with python3: `make study` and `make test`.
# Each installs what it needs: uv (from PyPI), the locked environment, the dataset (and, for the
# browser check of the reports, Debian's chromium).
SHELL := /bin/bash
UV := python3 -m uv

.PHONY: study test test-all uv env data chromium check-reports push pull compare profile-full profile-default

uv:
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv \
	  || python3 -m pip install --quiet --user --break-system-packages uv

# --compile-bytecode: this environment sets PYTHONDONTWRITEBYTECODE=1, so without it every stage
# process compiled torch from source (`import torch` 5.2 s instead of 3.3 s, paid by each of ~80 stages).
env: uv
	@$(UV) sync --frozen --quiet --compile-bytecode

data: env
	@$(UV) run --frozen advlab ensure-data

# Debian's chromium for tests/docs/test_browser.py and `advlab check-reports` (Playwright drives it;
# it never downloads a browser). Installed like the dataset: only when missing, only as root with apt.
chromium:
	@test -x /usr/bin/chromium || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null || { \
	  echo "installing Debian package chromium ..."; \
	  export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; \
	  apt-get install -y -qq chromium >/dev/null || echo "chromium not installed: the browser check is skipped"; }

study: data  ## run the whole study (dvc repro) on the profile in params.yaml
	$(UV) run --frozen advlab check-params  # our one-line message before DVC's own (e.g. an empty params.yaml)
	$(UV) run --frozen dvc repro

push: env  ## store this clone's DVC-cached outputs (models, results) in the default remote (.dvc/config)
	$(UV) run --frozen advlab check-remote push
	$(UV) run --frozen dvc push

pull: env  ## fetch the outputs recorded in dvc.lock from the default remote: no retraining
	$(UV) run --frozen advlab check-remote pull
	$(UV) run --frozen dvc pull

compare: env  ## experiments beside the committed baseline: changed params and metrics only (fits 120 columns)
	$(UV) run --frozen dvc exp show --only-changed --drop '^(params\.yaml|data/.*|models/.*|results/.*|reports/.*)$$'

test: env chromium  ## the whole suite, one dvc repro of every stage on the tiny profile included (tiny data)
	$(UV) run --frozen pytest -q

test-all: env chromium  ## also the slow tests: the full-smoke profile, dvc repro killed 5 times, a killed Ray stage
	$(UV) run --frozen pytest -q -m ""

check-reports: env chromium  ## open reports/ in headless Chromium at 1280 px: broken images/links, wide figures, stderr, raw frames
	$(UV) run --frozen advlab check-reports

profile-full: env
	$(UV) run --frozen advlab profile full

profile-default: env
	$(UV) run --frozen advlab profile default

# shareai: developer entry points. `make run` and `make test` do their own set-up on a fresh machine.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: setup tools run test lint proto proto-check bench smoke dist clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[agent,model,dev]'
	touch $(STAMP)

setup: $(STAMP)

## System tools the tests use (the installer tests: shellcheck, systemd-analyze, curl; the console tests:
## Debian's chromium, driven by Playwright, which never downloads browsers of its own); apt installs
## whichever is missing.
TOOLS := shellcheck:shellcheck systemd-analyze:systemd curl:curl chromium:chromium
tools:
	@missing=""; for pair in $(TOOLS); do command -v $${pair%%:*} >/dev/null || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing:$$missing"; apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else echo "missing tools:$$missing (install them with your package manager)"; exit 1; fi; fi

## The main job: a coordinator and a local node enrolled in it, serving the bundled small model.
run: $(STAMP)
	$(BIN)/python -m shareai.demo

## The whole test suite (real llama.cpp on the bundled model where behaviour depends on it).
test: $(STAMP) tools proto-check
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check shareai tests bench
	$(BIN)/mypy

proto: $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -Iproto --python_out=. --grpc_python_out=. --pyi_out=. \
		proto/shareai/proto/fleet/v1/fleet.proto

## Fails when the committed generated code differs from what `make proto` produces now.
proto-check: $(STAMP)
	@tmp=$$(mktemp -d); \
	$(BIN)/python -m grpc_tools.protoc -Iproto --python_out=$$tmp --grpc_python_out=$$tmp --pyi_out=$$tmp \
		proto/shareai/proto/fleet/v1/fleet.proto && \
	for f in fleet_pb2.py fleet_pb2_grpc.py fleet_pb2.pyi; do \
		cmp -s $$tmp/shareai/proto/fleet/v1/$$f shareai/proto/fleet/v1/$$f || \
		{ echo "stale generated code: shareai/proto/fleet/v1/$$f (run 'make proto')"; rm -rf $$tmp; exit 1; }; \
	done; rm -rf $$tmp; echo "generated gRPC code is up to date"

## Every benchmark with its defaults (about 4 minutes); `python -m bench NAME --help` for one.
bench: $(STAMP)
	$(BIN)/python -m bench all

smoke: $(STAMP)
	$(BIN)/python -m shareai.smoke_local

## The agent wheel a coordinator serves (the same bytes it builds on first request), and its SHA-256.
dist: $(STAMP)
	$(BIN)/python -m shareai.coordinator.agent_wheel --out dist

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache

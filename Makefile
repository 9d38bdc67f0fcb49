# The two commands a newcomer needs (see README):
#   make demo   install everything, then run a local network on the embedded model
#   make test   install test extras, then run the whole suite
VENV := .venv
PEERMIND := $(VENV)/bin/peermind

.PHONY: demo test install install-dev lint bench

install:
	@bash scripts/setup.sh

install-dev:
	@bash scripts/setup.sh dev

demo: install
	$(PEERMIND) testnet demo

test: install-dev
	@$(VENV)/bin/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo 'pytest: no tests collected (exit 5), not a failure'; exit 0; fi; exit $$rc

# trio-typing (a libp2p dependency) installs stale `trio-stubs` that mypy prefers over
# trio 0.35's own inline types; a path holding only trio itself puts the real types first.
MYPY_PATH := build/mypy-path

lint:
	$(VENV)/bin/ruff check .
	@mkdir -p $(MYPY_PATH) && ln -sfn "$$($(VENV)/bin/python -c 'import os, trio; print(os.path.dirname(trio.__file__))')" $(MYPY_PATH)/trio
	MYPYPATH=$(MYPY_PATH) $(VENV)/bin/mypy protocol trust federated bench node testnet

bench:
	$(PEERMIND) bench system

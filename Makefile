# Two commands on a fresh machine: `make dashboard` and `make test`. Both set up .venv from the lock first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LOCK := requirements.lock
LOOSE := requirements.txt requirements-test.txt

.PHONY: dashboard test test-latest lock

# Installed from the lock; redone when the lock changes.
$(VENV)/.installed: $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r $(LOCK)
	touch $@

dashboard: $(VENV)/.installed  ## the dashboard on the offline defaults, on http://localhost:8501
	$(BIN)/streamlit run app.py

test: $(VENV)/.installed  ## the default test run (slow tests excluded: `$(BIN)/pytest -m slow`)
	$(BIN)/pytest

# Exact versions of everything, from the loose ranges. PyTorch's CPU build carries a local label
# (+cpu) that is cut so the pin reads as the release it is.
lock: $(VENV)/.installed
	$(BIN)/python -m pip install -q pip-tools
	$(BIN)/pip-compile --quiet --upgrade --strip-extras --no-header --no-emit-index-url \
	    --no-emit-find-links --output-file $(LOCK) $(LOOSE)
	sed -i 's/^torch==\([0-9.]*\)+cpu$$/torch==\1/' $(LOCK)

# The newest versions the loose ranges allow, in a venv of their own: what a refresh of the lock would break.
test-latest:
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/python -m pip install -q --upgrade pip
	.venv-latest/bin/python -m pip install -q --upgrade $(foreach f,$(LOOSE),-r $(f))
	.venv-latest/bin/python -m pip freeze | sed 's/+cpu$$//' | sort > .venv-latest/freeze.txt
	grep -E '^[A-Za-z0-9]' $(LOCK) | sort | diff - .venv-latest/freeze.txt | grep '^[<>]' || true
	.venv-latest/bin/pytest

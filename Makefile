# Two entry points, both from a fresh clone with only Python 3.11+ and make:
#   make demo   install, then run the Long An campaign (dondoc demo) on a fresh database and a local mailbox
#   make test   install, then run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# dondoc's state, and Prefect's under it (runs, artifacts): where `dondoc demo` writes them and `make ui` reads them.
# dondoc itself puts PREFECT_HOME at DONDOC_STATE_DIR/prefect when it is unset; this says the same to `prefect`.
STATE := $(or $(DONDOC_STATE_DIR),.dondoc)
export PREFECT_HOME ?= $(abspath $(STATE))/prefect
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false

.PHONY: install demo test ui clean

$(BIN)/dondoc: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

install: $(BIN)/dondoc

demo: install
	$(BIN)/dondoc demo --output $(STATE)/demo

test: install
	$(BIN)/pytest

ui: install
	$(BIN)/prefect server start --host 127.0.0.1 --port 4200

clean:
	rm -rf $(STATE) .pytest_cache .hypothesis

# Two entry points, both from a fresh clone with only Python 3.11+ and make:
#   make demo   install, then launch the Long An directive on a fresh SQLite database and print its status
#   make test   install, then run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STATE := .dondoc
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
	@mkdir -p $(STATE)
	@rm -f $(STATE)/demo.db
	DONDOC_DATABASE_URL=sqlite:///$(STATE)/demo.db $(BIN)/dondoc launch directives/2550-STTTT-BCTT.yaml --now 2020-11-30T09:00+07:00
	DONDOC_DATABASE_URL=sqlite:///$(STATE)/demo.db $(BIN)/dondoc status 2550-stttt-bctt --now 2021-01-05T09:00+07:00
	@echo "Prefect UI with these runs: make ui, then open http://127.0.0.1:4200/runs"

test: install
	$(BIN)/pytest

ui: install
	$(BIN)/prefect server start --host 127.0.0.1 --port 4200

clean:
	rm -rf $(STATE) .pytest_cache .hypothesis

# The two commands of the README, and the steps they are made of.
#   make demo   set up, start a real Kafka broker, simulate a day of a city's traffic, ingest, summarise
#   make test   set up, start the broker and PostgreSQL, run lint, type checks, the whole test suite,
#               and the offline verifier from a core-only install
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test setup kafka kafka-stop postgres postgres-stop lint core-check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/python -m pip install --quiet -e '.[server]' --group dev
	touch $@

setup: $(VENV)/.installed

kafka: setup
	PYTHON=$(BIN)/python docker/kafka/broker.sh start

kafka-stop:
	PYTHON=$(BIN)/python docker/kafka/broker.sh stop

# PostgreSQL on 127.0.0.1:15432 (installed with apt-get if missing), for the store's PostgreSQL tests.
postgres:
	docker/postgres/pg.sh start

postgres-stop:
	docker/postgres/pg.sh stop

demo: kafka
	LIUHEN_HOME=var/demo $(BIN)/liuhen demo --fresh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The auditor's install: liuhen's core alone (cryptography, fastavro) verifies the golden bundle.
core-check:
	PYTHON=$(PYTHON) .ci/core-only

test: kafka postgres lint
	$(BIN)/pytest
	$(MAKE) core-check

clean: kafka-stop postgres-stop
	rm -rf var .cache/kafka/run-*

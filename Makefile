# casebook: `make run` to use it, `make test` to check it. Everything installs into .venv/.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: install check index run serve test test-fast eval bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch is pinned to the CPU build; an unpinned torch would pull gigabytes of CUDA packages
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

check: install
	$(BIN)/kb check

# `kb index` names each file it skips with its line and error, as `kb check` does (which also warns)
index: install
	$(BIN)/kb index

# brings index/ up to date with articles/ first (under a second when nothing changed; after an upgrade
# that changes the index format, a rebuild whose vectors come from the embedding cache)
run: install
	$(BIN)/kb index --quiet
	$(BIN)/kb serve --host $(HOST) --port $(PORT)

serve: run

test: install
	$(BIN)/python -m pytest

# the layer that needs no model: fusion, query parsing, store, presentation, settings, layering
test-fast: install
	$(BIN)/python -m pytest tests/fast

EVAL_DIR ?= ../shared/eval/msdocs

eval: install
	$(BIN)/kb eval bench/queries/articles_dev.jsonl bench/queries/crosslingual.jsonl bench/queries/out_of_corpus.jsonl
	$(BIN)/kb eval --pastes bench/queries/pastes_articles.jsonl
	@if [ -d $(EVAL_DIR)/corpus ]; then \
		$(BIN)/kb eval --corpus $(EVAL_DIR)/corpus $(EVAL_DIR)/symptom_queries.jsonl $(EVAL_DIR)/title_queries.jsonl; \
		$(BIN)/kb eval --pastes --corpus $(EVAL_DIR)/corpus bench/queries/pastes_msdocs.jsonl; \
	else echo "$(EVAL_DIR) not present: skipping the msdocs evaluation"; fi

bench: install
	@command -v wrk >/dev/null || echo "wrk is not installed (apt-get install wrk): latency load will come from an httpx client, which inflates the figures"
	PYTHON=$(BIN)/python sh bench/run_all.sh

clean:
	rm -rf index tests/artifacts .pytest_cache

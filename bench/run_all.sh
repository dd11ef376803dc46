#!/bin/sh
# `make bench`: every benchmark in sequence, figures only: about 20-25 minutes on 2 idle CPU cores
# (the first run also fills index/bench-embeddings.sqlite for incremental.py).
#   PYTHON=.venv/bin/python sh bench/run_all.sh
set -e
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}

run() {
    echo
    echo "== $*"
    start=$(date +%s)
    "$PY" "$@"
    echo "== $(( $(date +%s) - start )) s"
}

run bench/search_latency.py --concurrency 1 8 32
run bench/search_latency.py --generate 5000 --concurrency 1 8 32
run bench/search_cpu.py
run bench/query_encode.py
run bench/paste_latency.py
run bench/build_throughput.py
run bench/incremental.py
run bench/vector_scale.py
run bench/load.py --requests 10000 --clients 16
run bench/gaps_scale.py

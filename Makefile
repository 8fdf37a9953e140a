# cowrl: `make demo` runs the main job on embedded defaults; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
TORCH_VERSION ?= 2.13.0
APT_PACKAGES := qemu-system-x86 busybox-static cpio gcc make kmod linux-headers-amd64 python3 redis-server redis-tools

.PHONY: demo test setup kernel-deps lint bench clean

# A venv with the project. torch comes first and CPU-only: the +cpu wheel where
# one lies in pip's find-links (pip prefers it for torch==X), else PyTorch's CPU
# index; a plain `torch` requirement would pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	@links="$$($(VPY) -m pip config get global.find-links 2>/dev/null || echo "$$PIP_FIND_LINKS")"; \
	if ls $$links/torch-$(TORCH_VERSION)+cpu-*.whl >/dev/null 2>&1; then \
	  echo "torch: CPU wheel from $$links"; \
	  $(VPY) -m pip install -q "torch==$(TORCH_VERSION)"; \
	else \
	  echo "torch: CPU build from download.pytorch.org"; \
	  $(VPY) -m pip install -q "torch==$(TORCH_VERSION)" --index-url https://download.pytorch.org/whl/cpu \
	    --extra-index-url https://pypi.org/simple; \
	fi
	$(VPY) -m pip install -q -e ".[dev]"
	$(VPY) -c "import torch; assert not torch.version.cuda, 'a CUDA build of torch was installed'"
	touch $@

setup: $(VENV)/.installed

# Debian packages for the kernel target (qemu, busybox, headers). Needs root;
# the runner downloads the matching linux-image .deb itself.
kernel-deps:
	@if dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
	  echo "kernel-deps: apt packages present"; \
	elif [ "$$(id -u)" = 0 ]; then \
	  (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES); \
	else \
	  echo "kernel-deps: run 'sudo apt-get install $(APT_PACKAGES)' for the kernel target"; \
	fi

# The main job: train the default bandit in the simulator priced by the kernel
# target's calibration (tcg), then adaptive vs static in simulation and on the
# real kernel (qemu) with the same cost model, each printing its table.
DEMO_COST ?= tcg
demo: setup kernel-deps
	$(VPY) train.py policy=bandit costmodel=$(DEMO_COST) out=outputs/demo/train latest_dir=outputs/demo/latest
	$(VPY) eval.py target=sim costmodel=$(DEMO_COST) out=outputs/demo/sim latest_dir=outputs/demo/latest
	$(VPY) eval.py target=kernel costmodel=$(DEMO_COST) out=outputs/demo/kernel latest_dir=outputs/demo/latest

lint: setup
	$(VPY) -m ruff check .

test: setup kernel-deps lint
	$(VPY) -m pytest -q -ra

bench: setup
	$(VPY) experiments/bench_sim.py

clean:
	rm -rf $(VENV) outputs multirun

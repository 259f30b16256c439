# rampart: `make demo` and `make test` are the two commands (see README.md).
# Both install what is missing (Debian 12, as root), then build.

SHELL := /bin/bash
CARGO ?= cargo
# System packages the build, the tests and the demo need.
APT_PACKAGES := libdpdk-dev dpdk dpdk-dev clang libclang-dev pkg-config iproute2 ethtool iperf3 curl \
                tshark ucarp python3 python3-prometheus-client procps
export RUST_BACKTRACE ?= 1
# Where cargo builds (honours CARGO_TARGET_DIR, as cargo does).
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)

.PHONY: all deps build demo test lint bench fuzz clean
FUZZ_SECONDS ?= 30

all: build

deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "==> installing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "error: run as root to install:$$missing" >&2; exit 1; fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	fi
	@command -v $(CARGO) >/dev/null || { echo "error: cargo not found: install Rust (rustup)" >&2; exit 1; }

build: deps
	$(CARGO) build --release --bins

# One rampart node between a client and a server in network namespaces: ping and a TCP
# transfer through it, then the node's counters.
demo: build
	$(CARGO) build --release -p rampart-tests --bin rampart-demo
	$(TARGET_DIR)/release/rampart-demo --rampart $(TARGET_DIR)/release/rampart

# Every test: unit, property, EAL over vdevs, the netns lab. Benches run once in test mode.
test: deps
	$(CARGO) build --bins
	RAMPART_BIN=$(TARGET_DIR)/debug/rampart $(CARGO) test --workspace --all-targets
	$(CARGO) test --workspace --exclude dpdk-sys --doc

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench: deps
	$(CARGO) bench -p rampart-benches

# Every fuzz target for FUZZ_SECONDS each (cargo-fuzz on the stable toolchain).
fuzz: deps
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd fuzz && for t in $$(RUSTC_BOOTSTRAP=1 $(CARGO) fuzz list); do \
	  echo "==> fuzz $$t ($(FUZZ_SECONDS) s)"; \
	  RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run $$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

clean:
	$(CARGO) clean

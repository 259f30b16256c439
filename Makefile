# rampart: `make demo` and `make test` are the two commands (see README.md).
# Both install what is missing (Debian 12, as root), then build.

SHELL := /bin/bash
CARGO ?= cargo
# System packages the build, the tests and the demo need.
APT_PACKAGES := libdpdk-dev dpdk dpdk-dev clang libclang-dev pkg-config iproute2 ethtool iperf3 curl \
                tshark ucarp python3 python3-prometheus-client procps nftables conntrack
export RUST_BACKTRACE ?= 1
# Where cargo builds (honours CARGO_TARGET_DIR, as cargo does).
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)

.PHONY: all deps build demo test lint bench bench-sweep bench-micro fuzz clean
FUZZ_SECONDS ?= 30
, := ,

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

# The load harness (README "Benchmarks"): one table from A/B pairs of the testpmd io ceiling and
# rampart over the same net_pcap pair, the kernel peer in namespaces, the Mpps-vs-flows plot.
# Reserves 2 MiB hugepages (and mounts hugetlbfs, perf.md §2) for the run only, then puts
# everything back; every DPDK file prefix and namespace carries BENCH_PREFIX.
BENCH_PAIRS ?= 5
BENCH_HUGEPAGES ?= 2048
BENCH_DIR ?= /tmp/rampart-bench
BENCH_PREFIX := rb$(shell echo $$$$)
BENCH_ARGS ?=
define bench_run
	@set -u; before=$$(cat /proc/sys/vm/nr_hugepages); mnt=$(BENCH_DIR)/huge-$(BENCH_PREFIX); \
	cleanup() { \
	  for n in $$(ip netns list 2>/dev/null | awk '{print $$1}' | grep '^$(BENCH_PREFIX)'); do ip netns del $$n; done; \
	  umount $$mnt 2>/dev/null; rmdir $$mnt 2>/dev/null; rm -rf /var/run/dpdk/$(BENCH_PREFIX)*; \
	  rm -f $(BENCH_DIR)/*.pcap $(BENCH_DIR)/*.frames $(BENCH_DIR)/*.tmp $(BENCH_DIR)/$(BENCH_PREFIX)*; \
	  echo $$before > /proc/sys/vm/nr_hugepages; }; \
	trap cleanup EXIT INT TERM; \
	if [ "$$(id -u)" != 0 ]; then echo "error: make bench needs root (hugepages, namespaces)" >&2; exit 1; fi; \
	mkdir -p $$mnt && echo $(BENCH_HUGEPAGES) > /proc/sys/vm/nr_hugepages && \
	mount -t hugetlbfs -o pagesize=2M nodev $$mnt && \
	echo "==> hugepages: $$(grep HugePages_Total /proc/meminfo | awk '{print $$2}') x 2 MiB" && \
	$(TARGET_DIR)/release/rampart-bench table --hugepages --workdir $(BENCH_DIR) --prefix $(BENCH_PREFIX) \
	  --kernel-script $(CURDIR)/benches/scripts/kernel-nft.sh $(1) $(BENCH_ARGS)
endef

bench: deps
	$(CARGO) build --release -p rampart-benches --bin rampart-bench
	$(call bench_run,--pairs $(BENCH_PAIRS) --sweep-flows 1024$(,)4096$(,)16384$(,)65536$(,)262144 --plot $(BENCH_DIR)/flows.svg)

# Longer: how cost grows with states (1 k → 10 M), rules (10 → 10 k) and workers.
bench-sweep: deps
	$(CARGO) build --release -p rampart-benches --bin rampart-bench
	$(call bench_run,--pairs 1 --sweep-flows 1024$(,)65536 --sweep-states 1000$(,)100000$(,)1000000$(,)10000000 \
	  --sweep-rules 10$(,)100$(,)1000$(,)10000 --sweep-workers 1$(,)2 --plot $(BENCH_DIR)/flows-sweep.svg)

# The criterion micro-benchmarks.
bench-micro: deps
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

# brig: build, test, demo, bench. `make test` is what CI runs (.ci/run).
CARGO ?= cargo
PROBE_DIR := tests/probe
PROBE_TARGET := x86_64-unknown-linux-gnu
PROBE := $(PROBE_DIR)/target/$(PROBE_TARGET)/release/probe
# Runtime the integration tests drive (empty: the brig cargo builds).
BRIG_RUNTIME ?=
# Hook: more test targets run at the end of `make test`. test-apparmor runs
# by itself as soon as a rule for it exists (in this Makefile or an include).
EXTRA_TESTS ?=
-include mk/*.mk
DEB_PACKAGES := libseccomp-dev pkg-config busybox-static runc time

.PHONY: all build probe deps test test-unit test-integration demo bench lint fmt clean-bench

all: build

build:
	$(CARGO) build --release

probe: $(PROBE)

$(PROBE): $(PROBE_DIR)/src/main.rs $(PROBE_DIR)/Cargo.toml
	cd $(PROBE_DIR) && RUSTFLAGS="-C target-feature=+crt-static" \
		$(CARGO) build --release --target $(PROBE_TARGET)

# Installs the Debian packages the build and tests need, only if missing.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; \
	fi

# Without root the tests that need it skip themselves; every test binary
# ends with the count of skipped tests and why (tests/support/skip.rs).
NOT_ROOT_NOTE = @[ "$$(id -u)" = 0 ] || echo "$@: not root: the tests that need root skip themselves; see SKIPPED under each test result"

test: deps
	$(MAKE) test-unit
	$(MAKE) probe
	$(MAKE) test-integration
	@if $(MAKE) -n test-apparmor >/dev/null 2>&1; then $(MAKE) test-apparmor BRIG=target/debug/brig; fi
	@for t in $(EXTRA_TESTS); do $(MAKE) $$t || exit 1; done

test-unit:
	$(NOT_ROOT_NOTE)
	$(CARGO) test --lib

test-integration: probe
	$(NOT_ROOT_NOTE)
	BRIG_RUNTIME=$(BRIG_RUNTIME) $(CARGO) test --test integration -- --test-threads=2

# The integration tests against runc itself: checks the tests, not brig.
test-runc: probe
	$(NOT_ROOT_NOTE)
	BRIG_RUNTIME=/usr/sbin/runc $(CARGO) test --test integration -- --test-threads=2

demo: deps build probe
	scripts/demo.sh

bench: build probe
	scripts/bench.sh

lint:
	$(CARGO) fmt --all -- --check
	cd $(PROBE_DIR) && $(CARGO) fmt -- --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all
	cd $(PROBE_DIR) && $(CARGO) fmt

clean-bench:
	rm -rf bench-out

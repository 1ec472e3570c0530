# brig: build, test, install, demo, bench. `make test` is what CI runs (.ci/run).
CARGO ?= cargo
PROBE_DIR := tests/probe
PROBE_TARGET := x86_64-unknown-linux-gnu
PROBE := $(PROBE_DIR)/target/$(PROBE_TARGET)/release/probe
# Every brig this Makefile builds (`make build`, and the one the tests
# run) is static-pie: glibc and libseccomp linked in, so a start of brig
# (and the exec of each container's init) maps one file and binds no
# symbols (about 2 ms of a `run`, issue 15), and the tests run what
# `make build` ships. The explicit --target keeps crt-static off build
# scripts and proc-macros; binaries land in target/$(BRIG_TARGET)/.
BRIG_TARGET := $(or $(BRIG_TARGET),$(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p'))
STATIC_BUILD = RUSTFLAGS="$(RUSTFLAGS) -C target-feature=+crt-static" \
	LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH="$$(pkg-config --variable=libdir libseccomp)" \
	$(CARGO)
RELEASE := target/$(BRIG_TARGET)/release/brig
DEBUG_BRIG := target/$(BRIG_TARGET)/debug/brig
# Runtime the integration tests drive (empty: the brig cargo builds).
BRIG_RUNTIME ?=
# Hook: more test targets run at the end of `make test`. test-apparmor runs
# by itself as soon as a rule for it exists (in this Makefile or an include).
EXTRA_TESTS ?=
-include mk/*.mk
DEB_PACKAGES := libseccomp-dev pkg-config busybox-static runc time uidmap

.PHONY: all build probe deps test test-unit test-integration install uninstall demo bench lint fmt clean-bench

all: build

build:
	$(STATIC_BUILD) build --release --target $(BRIG_TARGET)

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
	@if $(MAKE) -n test-apparmor >/dev/null 2>&1; then $(MAKE) test-apparmor BRIG=$(DEBUG_BRIG); fi
	@for t in $(EXTRA_TESTS); do $(MAKE) $$t || exit 1; done

test-unit:
	$(NOT_ROOT_NOTE)
	$(STATIC_BUILD) test --target $(BRIG_TARGET) --lib

test-integration: probe
	$(NOT_ROOT_NOTE)
	BRIG_RUNTIME=$(BRIG_RUNTIME) $(STATIC_BUILD) test --target $(BRIG_TARGET) --test integration -- --test-threads=2

# The integration tests against runc itself: checks the tests, not brig.
test-runc: probe
	$(NOT_ROOT_NOTE)
	BRIG_RUNTIME=/usr/sbin/runc $(STATIC_BUILD) test --target $(BRIG_TARGET) --test integration -- --test-threads=2

# Where `make install` puts brig, its manual pages and its shell
# completions; DESTDIR stages the tree for a package.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
# The brig to install: the release build (built first) by default.
BRIG ?= $(RELEASE)
INSTALLED := $(DESTDIR)$(BINDIR)/brig \
	$(DESTDIR)$(DATADIR)/bash-completion/completions/brig \
	$(DESTDIR)$(DATADIR)/zsh/site-functions/_brig \
	$(DESTDIR)$(DATADIR)/fish/vendor_completions.d/brig.fish

# The pages and completions come from the binary being installed (`brig
# man`, `brig completion`), so they describe exactly its command line.
install: $(if $(filter $(RELEASE),$(BRIG)),build)
	install -D -m 0755 $(BRIG) $(DESTDIR)$(BINDIR)/brig
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(BRIG) man "$$tmp/man8"; \
	for sh in bash zsh fish; do $(BRIG) completion $$sh >"$$tmp/$$sh"; done; \
	inst() { echo "install -D -m 0644 $$1 $$2"; install -D -m 0644 "$$tmp/$$1" "$$2"; }; \
	for p in $$(cd "$$tmp/man8" && ls); do inst man8/$$p $(DESTDIR)$(MANDIR)/man8/$$p; done; \
	inst bash $(DESTDIR)$(DATADIR)/bash-completion/completions/brig; \
	inst zsh $(DESTDIR)$(DATADIR)/zsh/site-functions/_brig; \
	inst fish $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/brig.fish

# brig-*.8: the pages of every verb, whichever brig installed them.
uninstall:
	rm -f $(INSTALLED) $(DESTDIR)$(MANDIR)/man8/brig.8 $(DESTDIR)$(MANDIR)/man8/brig-*.8

demo: deps build probe
	BRIG=$(RELEASE) scripts/demo.sh

# crun for the pure-v2 rows (installed if missing, as make test does).
BENCH_DEB_PACKAGES := crun time

# The scripts time the release build (BRIG=... times another).
bench: export BRIG := $(BRIG)
bench: build probe
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(DEB_PACKAGES) $(BENCH_DEB_PACKAGES)"
	rm -f bench-out/table.*.tsv
	scripts/bench.sh
	scripts/bench-v2.sh
	scripts/bench-mounts.sh
	scripts/bench-parallel.sh
	scripts/bench-table.sh

lint:
	$(CARGO) fmt --all -- --check
	cd $(PROBE_DIR) && $(CARGO) fmt -- --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all
	cd $(PROBE_DIR) && $(CARGO) fmt

clean-bench:
	rm -rf bench-out

# brig under the real clients; included from the main Makefile, run by
# `make test` (EXTRA_TESTS).
#
#   make test-clients        containerd via ctr, podman, and containerd's CRI
#                            plugin with a `brig` runtime handler (what a
#                            Kubernetes RuntimeClass selects), each against a
#                            private daemon/storage under /tmp (tests/clients/)
#   make test-clients-runc   the same tests against runc: checks the tests
# Variables: CLIENTS_RUNTIME=/abs/path/to/runtime (default: the debug brig),
# CLIENTS_SKIP_EXEC=1 skips the steps that need `exec`,
# CLIENTS=ctr podman podman-systemd cri cri-systemd systemd picks the
# suites (all by default).

CLIENTS_DEB_PACKAGES := containerd podman conmon containernetworking-plugins protobuf-compiler systemd dbus
CLIENTS_RUNTIME ?= $(CURDIR)/target/debug/brig
CLIENTS ?= ctr podman podman-systemd cri cri-systemd systemd
CRI_CLIENT := tests/cri-client/target/debug/cri-client
EXTRA_TESTS += test-clients

.PHONY: deps-clients test-clients test-clients-runc cri-client

deps-clients:
	@missing=""; for p in $(CLIENTS_DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; \
	fi

# Its own package and target dir (k8s-cri + tonic); protoc builds its protos.
cri-client: deps-clients
	cd tests/cri-client && $(CARGO) build

# Runs every suite, then fails if any failed.
test-clients: deps-clients $(if $(filter cri cri-systemd,$(CLIENTS)),cri-client)
	@if [ "$$(id -u)" != 0 ]; then echo "SKIP test-clients: needs root"; exit 0; fi; \
	[ "$(CLIENTS_RUNTIME)" != "$(CURDIR)/target/debug/brig" ] || $(CARGO) build; \
	failed=""; for s in $(CLIENTS); do \
		echo "== test-clients: $$s ($(CLIENTS_RUNTIME))"; \
		BRIG=$(CLIENTS_RUNTIME) CRI_CLIENT=$(CURDIR)/$(CRI_CLIENT) tests/clients/$$s.sh || failed="$$failed $$s"; \
	done; \
	if [ -n "$$failed" ]; then echo "test-clients failed:$$failed"; exit 1; fi

test-clients-runc:
	$(MAKE) test-clients CLIENTS_RUNTIME=/usr/sbin/runc

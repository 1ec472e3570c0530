# brig under the real clients; included from the main Makefile, run by
# `make test` (EXTRA_TESTS).
#
#   make test-clients        containerd via ctr, podman (also rootless, as
#                            a user the suite makes; and with the user's
#                            own systemd in a private one), containerd's CRI
#                            plugin with a `brig` runtime handler (what a
#                            Kubernetes RuntimeClass selects) and Docker, each
#                            against a private daemon/storage under /tmp
#                            (tests/clients/)
#   make test-clients-runc   the same tests against runc: checks the tests
# Variables: CLIENTS_RUNTIME=/abs/path/to/runtime (default: the debug brig),
# CLIENTS_SKIP_EXEC=1 skips the steps that need `exec`,
# CLIENTS=ctr podman podman-rootless podman-systemd cri cri-systemd systemd systemd-user docker picks the
# suites (all by default).

CLIENTS_DEB_PACKAGES := containerd podman conmon uidmap slirp4netns containernetworking-plugins protobuf-compiler systemd dbus dbus-user-session docker.io
CLIENTS_RUNTIME ?= $(CURDIR)/$(DEBUG_BRIG)
CLIENTS ?= ctr podman podman-rootless podman-systemd cri cri-systemd systemd systemd-user docker
CRI_CLIENT := tests/cri-client/target/debug/cri-client
EXTRA_TESTS += test-clients

.PHONY: deps-clients test-clients test-clients-runc cri-client

# The packages must not start their services on install (docker.io would
# start a system dockerd with /var/lib/docker and iptables rules; the suites
# start private daemons): unless the host has its own policy-rc.d, one that
# forbids every start (exit 101) is in place while apt-get runs.
deps-clients:
	@missing=""; for p in $(CLIENTS_DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		rcd=; if [ ! -e /usr/sbin/policy-rc.d ]; then \
			printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d && rcd=1; \
		fi; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; rc=$$?; \
		[ -z "$$rcd" ] || rm -f /usr/sbin/policy-rc.d; \
		exit $$rc; \
	fi

# Its own package and target dir (k8s-cri + tonic); protoc builds its protos.
cri-client: deps-clients
	cd tests/cri-client && $(CARGO) build

# Runs every suite, then fails if any failed.
test-clients: deps-clients $(if $(filter cri cri-systemd,$(CLIENTS)),cri-client)
	@if [ "$$(id -u)" != 0 ]; then echo "SKIP test-clients: needs root"; exit 0; fi; \
	[ "$(CLIENTS_RUNTIME)" != "$(CURDIR)/$(DEBUG_BRIG)" ] || $(STATIC_BUILD) build --target $(BRIG_TARGET); \
	failed=""; for s in $(CLIENTS); do \
		echo "== test-clients: $$s ($(CLIENTS_RUNTIME))"; \
		BRIG=$(CLIENTS_RUNTIME) CRI_CLIENT=$(CURDIR)/$(CRI_CLIENT) tests/clients/$$s.sh || failed="$$failed $$s"; \
	done; \
	if [ -n "$$failed" ]; then echo "test-clients failed:$$failed"; exit 1; fi

test-clients-runc:
	$(MAKE) test-clients CLIENTS_RUNTIME=/usr/sbin/runc

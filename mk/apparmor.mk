# AppArmor targets; included from the main Makefile.
#
#   make install-apparmor   load (or replace) profiles/apparmor/brig-default
#                           in the running kernel; needs an AppArmor kernel
#   make test-apparmor      boot Debian's stock kernel in qemu and prove the
#                           profile is enforced on a brig container
#                           (tests/apparmor/README.md). Variables:
#                           APPARMOR_RUNTIME=brig|runc, BRIG=path/to/brig

APPARMOR_PROFILE ?= profiles/apparmor/brig-default
APPARMOR_DIR ?= /etc/apparmor.d
APPARMOR_RUNTIME ?= brig
BRIG ?= $(RELEASE)

.PHONY: install-apparmor test-apparmor

# Installs the profile where the distribution loads profiles at boot, then
# loads it now. -r replaces an already loaded version.
install-apparmor:
	@command -v apparmor_parser >/dev/null || { echo "install-apparmor: apparmor_parser missing (apt-get install apparmor)" >&2; exit 1; }
	install -D -m 0644 $(APPARMOR_PROFILE) $(APPARMOR_DIR)/brig-default
	apparmor_parser -r $(APPARMOR_DIR)/brig-default

# The VM test brings its own kernel. It builds the brig that BRIG names:
# the release build by default, the debug one for BRIG=$(DEBUG_BRIG)
# (what `make test` passes, to save CI a second full build).
test-apparmor:
	$(if $(filter $(RELEASE),$(BRIG)),$(MAKE) build,$(STATIC_BUILD) build --target $(BRIG_TARGET))
	RUNTIME=$(APPARMOR_RUNTIME) BRIG=$(BRIG) TIMEOUT=$${TIMEOUT:-600} tests/apparmor/run-vm.sh

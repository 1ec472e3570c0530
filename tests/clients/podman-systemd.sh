#!/bin/bash
# podman.sh on a systemd host: podman with --cgroup-manager systemd under a
# private systemd (see podman.sh).
# Run: BRIG=/abs/brig tests/clients/podman-systemd.sh
SUITE=podman-systemd PODMAN_SYSTEMD=1 exec bash "$(dirname "$0")/podman.sh"

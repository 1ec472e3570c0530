#!/bin/bash
# cri.sh on a systemd node: containerd under a private systemd with
# SystemdCgroup = true, the pod in a slice (see cri.sh).
# Run: BRIG=/abs/brig CRI_CLIENT=/abs/cri-client tests/clients/cri-systemd.sh
SUITE=cri-systemd CRI_SYSTEMD=1 exec bash "$(dirname "$0")/cri.sh"

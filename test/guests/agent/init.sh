#!/bin/sh
# /init of the agent initramfs (scripts/agent-initramfs.ts): the shared busybox image's own /init
# (kept as /init.busybox, unchanged: autotest or a shell on the console) with the cyclevisor guest
# agent (/sbin/cv-agent) started first, in the background, on the virtio-console port.
# Only /dev for the agent's port (busybox's /init mounts proc and sys, and /dev again, itself).
mount -t devtmpfs dev /dev 2>/dev/null
/sbin/cv-agent </dev/null >/dev/null 2>&1 &
exec /init.busybox

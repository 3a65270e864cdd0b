#!/bin/sh
# /init of the crossover initramfs (scripts/xover-initramfs.ts): mount, report the
# transparent-hugepage mode, run the workloads the kernel command line names
# (xover=fork:200,mmap:100:16,... ; default below), power off.
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
echo "xover: thp $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo none)"
list="fork:100 exec:50 mmap:100:16 tlb:100000:64"
for a in $(cat /proc/cmdline); do
  case "$a" in xover=*) list=$(echo "${a#xover=}" | tr ',' ' ') ;; esac
done
for w in $list; do
  /xover $(echo "$w" | tr ':' ' ') || echo "xover: $w failed"
done
echo "xover: done"
poweroff -f

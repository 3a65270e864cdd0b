#!/bin/sh
# rdinit of the RVA22 proof initramfs (scripts/rva22-initramfs.ts): run the bit-manipulation
# program, report its exit status and the ISA line Linux shows, then power off.
mount -t proc proc /proc
/rva22/bitops
echo "rva22: exit $?"
echo "rva22-isa:$(grep -m1 '^isa' /proc/cpuinfo | cut -d: -f2)"
poweroff -f

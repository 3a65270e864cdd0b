#!/bin/sh
# rdinit of the RVA22 proof initramfs (scripts/rva22-initramfs.ts): run the bit-manipulation and
# half-precision programs, report their exit statuses and the ISA line Linux shows, power off.
mount -t proc proc /proc
/rva22/bitops
echo "rva22: bitops exit $?"
/rva22/halfops
echo "rva22h: halfops exit $?"
echo "rva22-isa:$(grep -m1 '^isa' /proc/cpuinfo | cut -d: -f2)"
poweroff -f

#!/usr/bin/env bash
# Linux's own KVM running a nested Linux, on QEMU 7.2 and on cyclevisor, with the same initramfs
# (scripts/kvm-initramfs.ts) and the same kernel: prints the VMM/nested-guest lines of each run,
# checks the nested `init: loop done 7abae2d0a1937501` and the exit status, and reports wall time
# (best of RUNS, default 3). Not part of npm test (test/kvm.test.ts is); needs qemu-system-riscv64
# for the QEMU rows (skipped when missing) and `npm run build`.
#
#   bash scripts/kvm-nested.sh            # QEMU (-cpu rv64,h=true, OpenSBI) and cyclevisor (fast, timing)
#   RUNS=1 MODES="fast" bash scripts/kvm-nested.sh
#   VCPUS=2 bash scripts/kvm-nested.sh     # the nested Linux with 2 vCPUs (kvm_vcpus=2)
set -euo pipefail
cd "$(dirname "$0")/.."
GUESTS=${GUESTS:-../shared/guests}
RUNS=${RUNS:-3}
MODES=${MODES:-"fast timing"}
RAM=512M
VCPUS=${VCPUS:-1}
APPEND="console=ttyS0 kvm_vcpus=$VCPUS"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
npx tsx scripts/kvm-initramfs.ts --images "$GUESTS" -o "$TMP/initramfs-kvm.cpio" >/dev/null
fail=0

# run NAME CMD...: best wall time of RUNS runs; the log of the last run is checked.
run() {
  local name=$1; shift
  local best="" t0 t1 dt rc
  for _ in $(seq "$RUNS"); do
    t0=$(date +%s.%N)
    set +e; "$@" </dev/null >"$TMP/log" 2>&1; rc=$?; set -e
    t1=$(date +%s.%N)
    dt=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    if [ -z "$best" ] || awk -v d="$dt" -v b="$best" 'BEGIN { exit !(d < b) }'; then best=$dt; fi
  done
  tr -d '\r' <"$TMP/log" >"$TMP/log.txt"
  local ok=yes
  grep -q '^init: loop done 7abae2d0a1937501$' "$TMP/log.txt" || ok=no
  grep -q '^vs: mmio ok$' "$TMP/log.txt" || ok=no
  grep -q '^kvm-init: done$' "$TMP/log.txt" || ok=no
  [ "$rc" = 0 ] || ok=no
  [ "$ok" = yes ] || fail=1
  printf '%-38s exit %-3s nested loop line: %-3s wall %6.2f s (best of %s)\n' "$name" "$rc" "$ok" "$best" "$RUNS"
  [ "$ok" = yes ] || tail -20 "$TMP/log.txt"
}

if command -v qemu-system-riscv64 >/dev/null; then
  run "qemu 7.2 -cpu rv64,h=true" qemu-system-riscv64 -M virt -cpu rv64,h=true -m "$RAM" -nographic \
    -bios "$GUESTS/opensbi-fw_dynamic.bin" -kernel "$GUESTS/linux-6.1-rv64.Image" \
    -initrd "$TMP/initramfs-kvm.cpio" -append "$APPEND"
else
  echo "qemu-system-riscv64 not installed: QEMU row skipped"
fi
for mode in $MODES; do
  run "cyclevisor --mode $mode (builtin SBI)" node bin/cyclevisor.js boot --mode "$mode" --ram "$RAM" \
    --kernel "$GUESTS/linux-6.1-rv64.Image" --initrd "$TMP/initramfs-kvm.cpio" --append "$APPEND"
done
run "cyclevisor --mode fast (OpenSBI)" node bin/cyclevisor.js boot --mode fast --ram "$RAM" \
  --bios "$GUESTS/opensbi-fw_dynamic.bin" --kernel "$GUESTS/linux-6.1-rv64.Image" \
  --initrd "$TMP/initramfs-kvm.cpio" --append "$APPEND"
exit $fail

#!/bin/sh
# /init of the nested-KVM initramfs (scripts/kvm-initramfs.ts): the outer Linux runs our KVM VMM
# twice -- a bare-metal VS-mode program, then the shared Linux kernel with the nolibc initramfs --
# and powers off. Extra kernel command-line words change nothing; the lines below are what
# test/kvm.test.ts checks.
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
# kvm_vcpus=N on the outer kernel command line: vCPUs of the nested Linux (default 1).
vcpus=1
for w in $(cat /proc/cmdline); do
  case "$w" in kvm_vcpus=*) vcpus=${w#kvm_vcpus=} ;; esac
done
echo "kvm-init: outer Linux up, kernel $(uname -r)"
grep -E '^isa' /proc/cpuinfo | sort -u
if [ -c /dev/kvm ]; then
  /kvm/kvm-vmm --bin /kvm/vs-hello.bin
  echo "kvm-init: vs-hello exit $?"
  /kvm/kvm-vmm --mem 128 --vcpus "$vcpus" --kernel /kvm/Image --initrd /kvm/initramfs-nolibc.cpio.gz --append "console=hvc0"
  echo "kvm-init: nested linux exit $?"
else
  echo "kvm-init: no /dev/kvm (the hart has no H extension?)"
fi
echo "kvm-init: done"
poweroff -f

#!/usr/bin/env bash
# Boots the test guest once, directly through libvirt on qemu:///system (no Strato involved),
# and prints the seconds until its ready marker, or "over <budget>" when it takes longer.
# The real-guest test suites use it to tell a host where a guest boots in seconds from one
# where emulation is too slow to run them within CI's time.
#   probe-boot.sh <guest dir> <budget seconds> [qemu|kvm]
set -euo pipefail
guest=$1 budget=$2 virt=${3:-qemu}
uri=qemu:///system
dir=$(mktemp -d /tmp/strato-probe-XXXXXX)
name="strato-probe-$$"
cleanup() {
  virsh -c "$uri" destroy "$name" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
chmod 0711 "$dir"
cp "$guest/vmlinuz" "$guest/initrd.img" "$guest/disk.qcow2" "$dir/"
qemu-img create -q -f qcow2 -F qcow2 -b "$dir/disk.qcow2" "$dir/overlay.qcow2"
touch "$dir/console.log"
chmod 0644 "$dir"/*
cat >"$dir/domain.xml" <<XML
<domain type='$virt'>
  <name>$name</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$dir/vmlinuz</kernel>
    <initrd>$dir/initrd.img</initrd>
    <cmdline>console=ttyS0 root=/dev/vda rw quiet panic=-1</cmdline>
  </os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='$dir/overlay.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='file'><source path='$dir/console.log'/><target port='0'/></serial>
    <memballoon model='none'/>
  </devices>
</domain>
XML
start=$(date +%s%N)
virsh -c "$uri" create "$dir/domain.xml" >/dev/null
while :; do
  elapsed_ms=$((($(date +%s%N) - start) / 1000000))
  if grep -q STRATO-GUEST-READY "$dir/console.log" 2>/dev/null; then
    printf '%d.%03d\n' $((elapsed_ms / 1000)) $((elapsed_ms % 1000))
    exit 0
  fi
  if [ "$elapsed_ms" -ge $((budget * 1000)) ]; then
    echo "over $budget"
    exit 0
  fi
  sleep 0.5
done

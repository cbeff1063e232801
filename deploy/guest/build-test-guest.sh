#!/usr/bin/env bash
# Builds Strato's tiny test guest from Debian packages (see README.md beside this file):
#   vmlinuz     the kernel of linux-image-*-amd64 (apt-get download + dpkg-deb -x, no install)
#   initrd.img  busybox-static + the kernel modules it needs + init.sh as /init (gzip cpio)
#   disk.qcow2  a small ext4 root file system: busybox-static + init.sh as /sbin/init
#
# Usage: build-test-guest.sh [OUTPUT_DIR]     (default: data/guest under the repository root)
# Environment:
#   STRATO_GUEST_KERNEL_PKG  kernel package to use (default: what linux-image-amd64 depends on)
#   STRATO_GUEST_DISK_MIB    size of the root file system (default 64)
#   STRATO_GUEST_FORCE=1     rebuild even if the outputs are up to date
#
# Cached: when the outputs exist and .stamp in OUTPUT_DIR records the same inputs (package
# versions, this script and init.sh), nothing is downloaded or built.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/../.." && pwd)
out=${1:-$repo_root/data/guest}
disk_mib=${STRATO_GUEST_DISK_MIB:-64}
init_script=$script_dir/init.sh

# Modules for the initramfs, in load order; each one's dependencies (depends= and the
# softdep pre: names that are module names) are loaded before it. The SCSI drivers come
# before the ATA host drivers, so that a cdrom or disk found by the host scan gets its
# block device before insmod of the host driver returns.
required_modules=(
  button evdev                                   # ACPI power button -> /dev/input/event*
  virtio_pci virtio_blk                          # root disk (and config drive on virtio)
  crc32c_generic ext4                            # root file system (ext4 checksums need crc32c)
  isofs                                          # ISO 9660 config drive
  sr_mod ata_piix ahci                           # cdrom on IDE (machine pc) or SATA
)
optional_modules=(
  virtio_net                                     # network, for later tests
  sd_mod                                         # a config drive attached as an IDE/SATA disk
  vfat nls_cp437 nls_ascii                       # a VFAT config drive
)

log() { echo "build-test-guest: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

for tool in apt-get apt-cache dpkg-deb objcopy cpio gzip mkfs.ext4 qemu-img sha256sum; do
  command -v "$tool" >/dev/null ||
    die "$tool not found (apt-get install -y binutils cpio e2fsprogs qemu-utils)"
done

mkdir -p "$out"
out=$(cd "$out" && pwd)
if command -v flock >/dev/null; then
  exec 9>"$out/.lock"
  flock 9
fi

apt_opts=(-q)
[[ $(id -u) -eq 0 ]] && apt_opts+=(-o APT::Sandbox::User=root) # downloads into a root-only dir
apt_updated=
apt_update() {
  [[ -z $apt_updated ]] || return 0
  apt_updated=1
  log "apt-get update"
  apt-get "${apt_opts[@]}" update >&2 || log "warning: apt-get update failed"
}

kernel_package() {
  if [[ -n ${STRATO_GUEST_KERNEL_PKG:-} ]]; then
    echo "$STRATO_GUEST_KERNEL_PKG"
    return
  fi
  apt-cache depends linux-image-amd64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[^ <>]*\)$/\1/p' | head -n 1
}

candidate_version() {
  apt-cache policy "$1" 2>/dev/null | awk '$1 == "Candidate:" && $2 != "(none)" { print $2 }'
}

resolve_inputs() {
  kernel_pkg=$(kernel_package)
  kernel_ver=
  [[ -z $kernel_pkg ]] || kernel_ver=$(candidate_version "$kernel_pkg")
  busybox_ver=$(candidate_version busybox-static)
  [[ -n $kernel_ver && -n $busybox_ver ]]
}

outputs_exist() {
  [[ -s $out/vmlinuz && -s $out/initrd.img && -s $out/disk.qcow2 && -s $out/.stamp ]]
}

if ! resolve_inputs; then
  apt_update
  if ! resolve_inputs; then
    if outputs_exist; then
      log "warning: cannot resolve the kernel package; keeping the existing guest in $out"
      exit 0
    fi
    die "cannot find the kernel package (linux-image-amd64) or busybox-static with apt-cache"
  fi
fi

script_hash=$(cat "${BASH_SOURCE[0]}" "$init_script" | sha256sum | cut -c1-16)
make_stamp() {
  stamp="kernel=$kernel_pkg=$kernel_ver busybox-static=$busybox_ver disk-mib=$disk_mib"
  stamp+=" script=$script_hash"
}

show_outputs() {
  local f
  for f in vmlinuz initrd.img disk.qcow2; do
    printf '  %-11s %8s KiB\n' "$f" $(($(stat -c %s "$out/$f") / 1024))
  done
  echo "  inputs: $(cat "$out/.stamp")"
}

exit_if_up_to_date() {
  make_stamp
  if [[ ${STRATO_GUEST_FORCE:-} != 1 ]] && outputs_exist && [[ $(cat "$out/.stamp") == "$stamp" ]]; then
    echo "test guest in $out is up to date"
    show_outputs
    exit 0
  fi
}
exit_if_up_to_date

started=$SECONDS
work=$(mktemp -d "${TMPDIR:-/tmp}/strato-guest.XXXXXX")
trap 'rm -rf "$work"' EXIT

# --- Download and unpack -------------------------------------------------------------------
download() {
  log "downloading $kernel_pkg=$kernel_ver busybox-static=$busybox_ver"
  (cd "$work" && apt-get "${apt_opts[@]}" download "$kernel_pkg=$kernel_ver" \
    "busybox-static=$busybox_ver" >&2)
}
if ! download; then
  # Stale package lists name versions the archive no longer has: update and look again.
  [[ -z $apt_updated ]] || die "apt-get download failed"
  apt_update
  resolve_inputs || die "cannot find the kernel package or busybox-static after apt-get update"
  exit_if_up_to_date
  download || die "apt-get download failed"
fi
download_done=$SECONDS
dpkg-deb -x "$work/${kernel_pkg}_"*.deb "$work/kernel"
dpkg-deb -x "$work/busybox-static_"*.deb "$work/busybox"

vmlinuz=$(find "$work/kernel/boot" -maxdepth 1 -name 'vmlinuz-*' | head -n 1)
[[ -n $vmlinuz ]] || die "$kernel_pkg has no boot/vmlinuz-*"
kver=${vmlinuz##*/vmlinuz-}
moddir=
for d in "$work/kernel/lib/modules/$kver" "$work/kernel/usr/lib/modules/$kver"; do
  [[ -d $d ]] && moddir=$d
done
[[ -n $moddir ]] || die "$kernel_pkg has no modules directory for $kver"
busybox=$work/busybox/bin/busybox
[[ -x $busybox ]] || die "busybox-static has no bin/busybox"

# --- Modules: dependency order from .modinfo ---------------------------------------------
declare -A modpath=() modstate=()
while IFS= read -r -d '' f; do
  name=${f##*/}
  name=${name%%.ko*}
  modpath[${name//-/_}]=$f
done < <(find "$moddir/kernel" \( -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz' \) -print0)
[[ ${#modpath[@]} -gt 0 ]] || die "$kernel_pkg has no kernel modules"
mkdir -p "$work/ko"

# Copies module $1, decompressed, to $work/ko/$1.ko.
unpack_module() {
  local src=${modpath[$1]} dst=$work/ko/$1.ko
  case $src in
    *.ko) cp "$src" "$dst" ;;
    *.ko.xz) xz -dc "$src" >"$dst" ;;
    *.ko.zst) zstd -qdc "$src" >"$dst" ;;
    *.ko.gz) gzip -dc "$src" >"$dst" ;;
  esac
}

load_order=()
# Appends module $1 to load_order after its dependencies; fails if it is not in the package.
add_module() {
  local name=${1//-/_} deps soft dep
  [[ ${modstate[$name]:-} == done ]] && return 0
  [[ ${modstate[$name]:-} != visiting ]] || die "module dependency cycle at $name"
  [[ -n ${modpath[$name]:-} ]] || return 1
  modstate[$name]=visiting
  unpack_module "$name" || die "cannot decompress ${modpath[$name]}"
  objcopy -O binary --only-section=.modinfo "$work/ko/$name.ko" "$work/modinfo.bin" ||
    die "cannot read the .modinfo section of ${modpath[$name]}"
  tr '\0' '\n' <"$work/modinfo.bin" >"$work/modinfo.txt"
  deps=$(sed -n 's/^depends=//p' "$work/modinfo.txt")
  soft=$(sed -n 's/^softdep=pre: *//p' "$work/modinfo.txt" | sed 's/ *post:.*//')
  for dep in ${deps//,/ }; do
    add_module "$dep" || die "module $name depends on $dep, which $kernel_pkg lacks"
  done
  for dep in $soft; do # e.g. 'crypto-crc32c' is an alias, not a module: skipped
    [[ -n ${modpath[${dep//-/_}]:-} ]] && add_module "$dep"
  done
  modstate[$name]=done
  load_order+=("$name")
}
for m in "${required_modules[@]}"; do
  add_module "$m" || die "$kernel_pkg has no module $m"
done
for m in "${optional_modules[@]}"; do
  add_module "$m" || log "note: $kernel_pkg has no module $m (optional)"
done

# --- Root trees ------------------------------------------------------------------------------
# Populates directory $1 with busybox, its applet links (except init) and the usual dirs.
populate_root() {
  local root=$1 applet
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc/strato-guest,dev,proc,sys,mnt/config,tmp,run,root}
  chmod 1777 "$root/tmp"
  install -m 0755 "$busybox" "$root/bin/busybox"
  while read -r applet; do
    case $applet in
      bin/busybox | sbin/init | linuxrc | */linuxrc) continue ;;
    esac
    [[ -e $root/$applet || -L $root/$applet ]] || ln -s /bin/busybox "$root/$applet"
  done < <("$busybox" --list-full)
  echo strato-guest >"$root/etc/hostname"
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\n' >"$root/etc/group"
}

initramfs=$work/initramfs
populate_root "$initramfs"
install -m 0755 "$init_script" "$initramfs/init"
touch "$initramfs/etc/strato-guest/initramfs"
mkdir -p "$initramfs/lib/strato-guest/modules" "$initramfs/newroot"
for m in "${load_order[@]}"; do
  install -m 0644 "$work/ko/$m.ko" "$initramfs/lib/strato-guest/modules/$m.ko"
done
printf '%s\n' "${load_order[@]}" >"$initramfs/etc/strato-guest/modules"

diskroot=$work/diskroot
populate_root "$diskroot"
install -m 0755 "$init_script" "$diskroot/sbin/init"

# --- Images --------------------------------------------------------------------------------
stage=$work/out
mkdir -p "$stage"
cp "$vmlinuz" "$stage/vmlinuz"
(cd "$initramfs" && find . -print0 | LC_ALL=C sort -z |
  cpio --null --create --format=newc --owner=0:0 --quiet) | gzip -9n >"$stage/initrd.img"
truncate -s "${disk_mib}M" "$work/disk.raw"
mkfs.ext4 -q -F -L strato-root -m 0 -E root_owner=0:0 -d "$diskroot" "$work/disk.raw"
qemu-img convert -f raw -O qcow2 "$work/disk.raw" "$stage/disk.qcow2"
chmod 0644 "$stage"/*

rm -f "$out/.stamp"
mv -f "$stage/vmlinuz" "$stage/initrd.img" "$stage/disk.qcow2" "$out/"
echo "$stamp" >"$out/.stamp"

echo "built the test guest in $out in $((SECONDS - download_done)) s" \
  "(download $((download_done - started)) s; kernel $kver, ${#load_order[@]} modules)"
echo "  modules: ${load_order[*]}"
show_outputs

#!/bin/sh
# PID 1 of Strato's test guest, run by busybox sh. build-test-guest.sh installs this file
# twice: as /init of the initramfs and as /sbin/init of the disk image.
#
#  - In the initramfs: mount /proc, /sys and /dev, load the kernel modules listed in
#    /etc/strato-guest/modules (in the order given there), then, if the kernel command line
#    has root=, mount that device on /newroot and switch_root to its /sbin/init (this same
#    script); without root=, go on from the initramfs.
#  - Then: watch the ACPI power button, print the console markers on /dev/ttyS0, read the
#    OpenStack config drive (label config-2) if there is one, and sleep forever.
#
# Console markers (one line each, on /dev/ttyS0):
#   STRATO-GUEST-ROOT: <root device, or "initramfs">
#   STRATO-GUEST-READY
#   STRATO-GUEST-CONFIG-DRIVE: <device>, STRATO-GUEST-NAME: <name>, STRATO-GUEST-UUID: <uuid>
#   or STRATO-GUEST-NO-CONFIG-DRIVE
#   STRATO-GUEST-POWER-BUTTON (then the guest powers off)

PATH=/sbin:/bin:/usr/sbin:/usr/bin
export PATH
MODULE_LIST=/etc/strato-guest/modules
MODULE_DIR=/lib/strato-guest/modules
CONFIG_MNT=/mnt/config

say() {
  echo "$*" >/dev/ttyS0 2>/dev/null || echo "$*"
}

is_mounted() {
  grep -q "^[^ ]* $1 " /proc/mounts 2>/dev/null
}

mount_pseudo_filesystems() {
  [ -e /proc/self ] || mount -t proc proc /proc
  is_mounted /sys || mount -t sysfs sysfs /sys
  is_mounted /dev || mount -t devtmpfs devtmpfs /dev
  # The kernel may have found no /dev/console to give init: use the one devtmpfs has (a
  # failed exec redirection would end this shell, and PID 1 must not end).
  if (: </dev/console >/dev/console) 2>/dev/null; then
    exec </dev/console >/dev/console 2>&1
  fi
}

load_modules() {
  [ -f "$MODULE_LIST" ] || return 0
  while read -r module; do
    [ -n "$module" ] || continue
    grep -q "^$module " /proc/modules && continue
    insmod "$MODULE_DIR/$module.ko" 2>/dev/null || say "STRATO-GUEST-MODULE-FAILED: $module"
  done <"$MODULE_LIST"
}

# Sets root, rootfstype, rootflags and rootmode from the kernel command line.
parse_cmdline() {
  root= rootfstype= rootflags= rootmode=rw
  set -f
  # shellcheck disable=SC2013 # split on white space, as the kernel does
  for arg in $(cat /proc/cmdline); do
    case "$arg" in
      root=*) root=${arg#root=} ;;
      rootfstype=*) rootfstype=${arg#rootfstype=} ;;
      rootflags=*) rootflags=${arg#rootflags=} ;;
      ro) rootmode=ro ;;
      rw) rootmode=rw ;;
    esac
  done
  set +f
}

# Prints the device for a root= value (a /dev path, LABEL=... or UUID=...), waiting up to
# 10 s for it to appear.
root_device() {
  tries=100
  while :; do
    case "$1" in
      LABEL=* | UUID=*) dev=$(findfs "$1" 2>/dev/null) ;;
      *) dev=$1 ;;
    esac
    if [ -n "$dev" ] && [ -b "$dev" ]; then
      echo "$dev"
      return 0
    fi
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] || return 1
    usleep 100000
  done
}

# Mounts root= on /newroot and switch_roots into its /sbin/init; returns only on failure.
switch_to_root() {
  if ! dev=$(root_device "$root"); then
    say "STRATO-GUEST-ROOT-FAILED: $root not found"
    return 1
  fi
  mkdir -p /newroot
  opts=$rootmode${rootflags:+,$rootflags}
  if ! mount ${rootfstype:+-t "$rootfstype"} -o "$opts" "$dev" /newroot; then
    say "STRATO-GUEST-ROOT-FAILED: cannot mount $dev"
    return 1
  fi
  if [ ! -x /newroot/sbin/init ]; then
    say "STRATO-GUEST-ROOT-FAILED: $dev has no /sbin/init"
    umount /newroot
    return 1
  fi
  for fs in /proc /sys /dev; do
    mkdir -p "/newroot$fs"
    mount --move "$fs" "/newroot$fs"
  done
  exec switch_root /newroot /sbin/init
}

power_off() {
  say "STRATO-GUEST-POWER-BUTTON"
  umount "$CONFIG_MNT" 2>/dev/null
  sync
  mount -o remount,ro / 2>/dev/null
  sync
  poweroff -f
}

# An ACPI power button press (virsh shutdown, or virsh reboot: libvirt then resets the
# powered-off guest) reaches user space as a key event on the "Power Button" input devices
# (modules button and evdev). Read one event from each and power off.
watch_power_button() {
  found=
  for dir in /sys/class/input/event*; do
    [ -e "$dir/device/name" ] || continue
    [ "$(cat "$dir/device/name")" = "Power Button" ] || continue
    found=1
    (dd if="/dev/input/${dir##*/}" of=/dev/null bs=24 count=1 2>/dev/null && power_off) &
  done
  [ -n "$found" ] || say "STRATO-GUEST-NO-POWER-BUTTON"
}

# Prints the first block device whose file system label is config-2.
find_config_drive() {
  dev=$(findfs LABEL=config-2 2>/dev/null) && [ -b "$dev" ] && echo "$dev" && return 0
  # Fallback for ISO 9660: the primary volume descriptor is at 32768, its identifier at
  # +1 ("CD001") and the volume label at +40 (32 bytes, space-padded).
  for dev in /dev/sr* /dev/vd* /dev/sd* /dev/hd* /dev/xvd*; do
    [ -b "$dev" ] || continue
    [ "$(dd if="$dev" bs=1 skip=32769 count=5 2>/dev/null)" = CD001 ] || continue
    label=$(dd if="$dev" bs=1 skip=32808 count=32 2>/dev/null | sed 's/ *$//')
    [ "$label" = config-2 ] && echo "$dev" && return 0
  done
  return 1
}

# Prints the string value of a top-level key of a JSON object file, on one line (\n, \t and
# other control characters become spaces; \uXXXX escapes become UTF-8). Nested objects and
# arrays are skipped, so "name" inside "keys" or "meta" does not count.
json_top_string() {
  awk -v want="$1" '
    function hex(h,  k, v, d) {
      v = 0
      for (k = 1; k <= 4; k++) {
        d = index("0123456789abcdef", tolower(substr(h, k, 1)))
        if (d == 0) return 63 # "?"
        v = v * 16 + d - 1
      }
      return v
    }
    function utf8(c) {
      if (c < 32) return " "
      if (c < 128) return sprintf("%c", c)
      if (c < 2048) return sprintf("%c%c", 192 + int(c / 64), 128 + c % 64)
      if (c < 65536)
        return sprintf("%c%c%c", 224 + int(c / 4096), 128 + int(c / 64) % 64, 128 + c % 64)
      return sprintf("%c%c%c%c", 240 + int(c / 262144), 128 + int(c / 4096) % 64,
                     128 + int(c / 64) % 64, 128 + c % 64)
    }
    { doc = doc $0 "\n" }
    END {
      n = length(doc); depth = 0; key = ""
      for (i = 1; i <= n; i++) {
        c = substr(doc, i, 1)
        if (c == "\"") {
          s = ""
          for (i++; i <= n; i++) {
            c = substr(doc, i, 1)
            if (c == "\\") {
              i++; e = substr(doc, i, 1)
              if (e == "u") {
                cp = hex(substr(doc, i + 1, 4)); i += 4
                if (cp >= 55296 && cp < 56320 && substr(doc, i + 1, 2) == "\\u") {
                  lo = hex(substr(doc, i + 3, 4)) # a surrogate pair
                  if (lo >= 56320 && lo < 57344) { cp = 65536 + (cp - 55296) * 1024 + lo - 56320; i += 6 }
                }
                s = s utf8(cp)
              } else if (e == "n" || e == "r" || e == "t" || e == "b" || e == "f") s = s " "
              else s = s e
            } else if (c == "\"") break
            else s = s c
          }
          j = i + 1
          while (j <= n && index(" \t\r\n", substr(doc, j, 1)) > 0) j++
          if (substr(doc, j, 1) == ":") { if (depth == 1) key = s }
          else if (depth == 1 && key == want) { print s; exit }
        } else if (c == "{" || c == "[") depth++
        else if (c == "}" || c == "]") depth--
        else if (c == "," && depth == 1) key = ""
      }
    }' "$2"
}

read_config_drive() {
  # Block devices are probed while their modules load; allow a moment for stragglers.
  tries=5
  while ! dev=$(find_config_drive); do
    tries=$((tries - 1))
    if [ "$tries" -le 0 ]; then
      say "STRATO-GUEST-NO-CONFIG-DRIVE"
      return 0
    fi
    usleep 200000
  done
  mkdir -p "$CONFIG_MNT"
  if ! mount -o ro "$dev" "$CONFIG_MNT" 2>/dev/null; then
    say "STRATO-GUEST-CONFIG-DRIVE-FAILED: cannot mount $dev"
    return 0
  fi
  say "STRATO-GUEST-CONFIG-DRIVE: $dev"
  meta="$CONFIG_MNT/openstack/latest/meta_data.json"
  if [ ! -f "$meta" ]; then
    say "STRATO-GUEST-CONFIG-DRIVE-FAILED: no openstack/latest/meta_data.json"
    return 0
  fi
  name=$(json_top_string name "$meta")
  uuid=$(json_top_string uuid "$meta")
  say "STRATO-GUEST-NAME: $name"
  say "STRATO-GUEST-UUID: $uuid"
  hostname=$(json_top_string hostname "$meta")
  [ -n "$hostname" ] && hostname "${hostname%%.*}" 2>/dev/null
  return 0
}

guest_main() {
  mkdir -p /tmp /run /mnt
  is_mounted /run || mount -t tmpfs -o mode=0755 tmpfs /run
  watch_power_button
  say "STRATO-GUEST-ROOT: $1"
  say "STRATO-GUEST-READY"
  read_config_drive
  while :; do
    sleep 3600
  done
}

mount_pseudo_filesystems
if [ -f /etc/strato-guest/initramfs ]; then
  load_modules
  parse_cmdline
  [ -n "$root" ] && switch_to_root
  guest_main initramfs
else
  # Booted from the disk, normally by the initramfs, which loaded the modules already.
  load_modules
  guest_main "$(awk '$2 == "/" && $1 != "rootfs" { dev = $1 } END { print dev }' /proc/mounts)"
fi

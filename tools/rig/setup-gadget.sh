#!/bin/sh
# setup-gadget.sh: make this Raspberry Pi a USB serial device (CDC ACM) so
# the field technician's `tether` CLI can talk to phoned over /dev/ttyGS0.
#
# Needs root, a Pi whose USB port can act as a device (Zero, Zero 2 W, 4 and
# 5 on the USB-C port) and the dwc2 controller (dtoverlay=dwc2). Idempotent:
# running it again changes nothing. `setup-gadget.sh --remove` undoes it.
set -eu

G=/sys/kernel/config/usb_gadget/deskphone
FUNC=acm.usb0

die() { echo "setup-gadget: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root"

if [ "${1:-}" = "--remove" ]; then
	[ -d "$G" ] || exit 0
	[ -z "$(cat "$G/UDC" 2>/dev/null)" ] || echo "" >"$G/UDC"
	rm -f "$G/configs/c.1/$FUNC"
	rmdir "$G/configs/c.1/strings/0x409" "$G/configs/c.1" "$G/functions/$FUNC" "$G/strings/0x409" "$G" 2>/dev/null || true
	echo "setup-gadget: removed"
	exit 0
fi

# The dwc2 overlay must be in config.txt (takes effect after a reboot).
for cfg in /boot/firmware/config.txt /boot/config.txt; do
	[ -f "$cfg" ] || continue
	if ! grep -q '^dtoverlay=dwc2' "$cfg"; then
		printf '\n[all]\ndtoverlay=dwc2,dr_mode=peripheral\n' >>"$cfg"
		echo "setup-gadget: added dtoverlay=dwc2 to $cfg; reboot, then run me again"
	fi
	break
done

modprobe dwc2 2>/dev/null || true
modprobe libcomposite || die "libcomposite module missing"
mountpoint -q /sys/kernel/config || mount -t configfs none /sys/kernel/config

UDC_NAME=$(ls /sys/class/udc 2>/dev/null | head -n 1)
[ -n "$UDC_NAME" ] || die "no USB device controller (is dtoverlay=dwc2 active? reboot after adding it)"

if [ -d "$G" ] && [ -n "$(cat "$G/UDC" 2>/dev/null)" ]; then
	echo "setup-gadget: already bound to $(cat "$G/UDC")"
	exit 0
fi

mkdir -p "$G"
echo 0x1d6b >"$G/idVendor"  # Linux Foundation
echo 0x0104 >"$G/idProduct" # Multifunction Composite Gadget
echo 0x0100 >"$G/bcdDevice"
echo 0x0200 >"$G/bcdUSB"
mkdir -p "$G/strings/0x409"
SERIAL=$(awk '/^Serial/ {print $3}' /proc/cpuinfo 2>/dev/null || true)
echo "${SERIAL:-0000000000000000}" >"$G/strings/0x409/serialnumber"
echo "deskphone" >"$G/strings/0x409/manufacturer"
echo "deskphone rig tether" >"$G/strings/0x409/product"
mkdir -p "$G/configs/c.1/strings/0x409"
echo "ACM" >"$G/configs/c.1/strings/0x409/configuration"
echo 100 >"$G/configs/c.1/MaxPower"
mkdir -p "$G/functions/$FUNC"
[ -e "$G/configs/c.1/$FUNC" ] || ln -s "$G/functions/$FUNC" "$G/configs/c.1/"
echo "$UDC_NAME" >"$G/UDC"

# udev creates /dev/ttyGS0 asynchronously.
for _ in 1 2 3 4 5 6 7 8 9 10; do
	[ -e /dev/ttyGS0 ] && break
	sleep 0.2
done
[ -e /dev/ttyGS0 ] || die "/dev/ttyGS0 did not appear"
echo "setup-gadget: /dev/ttyGS0 ready on $UDC_NAME"

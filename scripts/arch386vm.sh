#!/usr/bin/env bash
# scripts/arch386vm.sh ECTOOL_386 ECTOOL_AMD64 DIR: run the linux/386 build of ectool natively in a
# VM, for test.sh's arch phase on hosts that cannot execute it themselves.
#
# Why a VM: issue 9 wants the 386 build run natively (a capture whose counts equal tcpdump's, with
# kernel drop statistics). A kernel built without IA32 emulation (Firecracker guests, where this
# suite is developed) answers "Exec format error", and qemu-i386 (user mode, 7.2) crashes in Go's
# 386 runtime as soon as a second thread starts. A real kernel with IA32 emulation does run it:
# Debian's linux-image-amd64 (CONFIG_IA32_EMULATION=y, AF_PACKET built in) under
# qemu-system-x86_64, TCG when there is no /dev/kvm.
#
# The root file system is an initramfs built here: busybox-static, both ectool builds, tcpdump and
# socat with the shared libraries ldd names, and scripts/arch386vm-init.sh as /init. The VM has no
# network device (nothing leaves the machine); it powers off when done.
#
# Output: DIR/console.log (the serial console), DIR/out/ (the evidence the VM sent back on its
# second serial port: version, scan.json, ring/, tcpdump.pcap, status.json, logs) and the VM's
# "ARCH386VM RESULT ..." line on stdout. The caller judges the evidence.
# Exit: 0 the VM ran and reported PASS; 1 it ran and reported FAIL, or did not finish; 2 usage;
# 3 it cannot run here (no qemu-system-x86_64, kernel or busybox-static: the peers phase installs
# them).
# Environment: ARCH386VM_TIMEOUT (seconds for boot and work, default 300:
# measured 35-66 s under TCG on 2 shared cores), ARCH386VM_SMP (default 2).
set -uo pipefail

bin386=$1 binamd64=$2 dir=$3
here=$(cd "$(dirname "$0")" && pwd)
[[ -x $bin386 && -x $binamd64 && -d $dir ]] || { echo "usage: $0 ECTOOL_386 ECTOOL_AMD64 DIR" >&2; exit 2; }
limit=${ARCH386VM_TIMEOUT:-300}

qemu=$(command -v qemu-system-x86_64) || { echo "no qemu-system-x86_64 (Debian package qemu-system-x86)" >&2; exit 3; }
kernel=$(ls -1 /boot/vmlinuz-*-amd64 2>/dev/null | sort -V | tail -1)
[[ -r $kernel ]] || { echo "no Debian amd64 kernel in /boot (Debian package linux-image-amd64)" >&2; exit 3; }
config=/boot/config-${kernel#/boot/vmlinuz-}
if [[ -r $config ]] && ! grep -q '^CONFIG_IA32_EMULATION=y' "$config"; then
	echo "$kernel has no IA32 emulation ($config)" >&2
	exit 3
fi
[[ -x /bin/busybox ]] && /bin/busybox --list | grep -qx unshare || {
	echo "no /bin/busybox with unshare (Debian package busybox-static)" >&2; exit 3; }
for p in tcpdump socat; do
	command -v "$p" >/dev/null || { echo "no $p" >&2; exit 3; }
done

# ---- the initramfs ----
root="$dir/root"
rm -rf "$root" "$dir/out"
mkdir -p "$root"/{bin,usr/bin,etc,tmp,proc,sys,dev} "$dir/out"
cp /bin/busybox "$root/bin/busybox" &&
	ln -s busybox "$root/bin/sh" && # /init's interpreter; init installs the other applets
	cp "$bin386" "$root/bin/ectool-386" &&
	cp "$binamd64" "$root/bin/ectool" &&
	cp "$here/arch386vm-init.sh" "$root/init" &&
	chmod 755 "$root/init" "$root/bin/"* || exit 1
# Dynamic peers with every library ldd names (and the loader), at the same paths.
for p in tcpdump socat; do
	exe=$(command -v "$p")
	cp "$exe" "$root/usr/bin/$p" || exit 1
	for lib in $(ldd "$exe" | grep -o '/[^ ]*'); do
		mkdir -p "$root$(dirname "$lib")" && cp -L "$lib" "$root$lib" || exit 1
	done
done
echo 'root:x:0:0:root:/tmp:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"
# Uncompressed: no gzip pass over ~60 MiB here, no inflating it in the emulated guest.
(cd "$root" && find . | cpio -o -H newc --quiet) >"$dir/initramfs.cpio" || exit 1
rm -rf "$root"

# ---- boot ----
accel=tcg
[[ -w /dev/kvm ]] && accel=kvm
echo "booting $kernel ($accel, ${ARCH386VM_SMP:-2} cpus, initramfs $(($(stat -c %s "$dir/initramfs.cpio") / 1048576)) MiB, limit ${limit}s)"
timeout -k 10 "$limit" "$qemu" -machine q35,accel=$accel -cpu max -smp "${ARCH386VM_SMP:-2}" -m 1024 \
	-nographic -no-reboot -nic none \
	-kernel "$kernel" -initrd "$dir/initramfs.cpio" \
	-append "console=ttyS0 quiet loglevel=3 panic=-1" \
	-serial file:"$dir/console.log" -serial file:"$dir/out.b64" -monitor none \
	</dev/null >"$dir/qemu.log" 2>&1
rc=$?
rm -f "$dir/initramfs.cpio"
grep -ao 'arch386vm:.*' "$dir/console.log" | tr -d '\r' | sed 's/^/  vm: /'
if [[ $rc -ne 0 ]]; then
	echo "the VM did not finish (exit $rc: 124 is the ${limit}s limit); console and qemu output:" >&2
	tail -n 30 "$dir/console.log" "$dir/qemu.log" >&2
	exit 1
fi
tr -d '\r' <"$dir/out.b64" | sed -n '/^ARCH386VM-OUT BEGIN$/,/^ARCH386VM-OUT END$/p' | sed '1d;$d' |
	base64 -d | tar -xz -C "$dir/out" || {
	echo "no evidence from the VM on its second serial port; the console's end:" >&2
	tail -n 30 "$dir/console.log" >&2
	exit 1
}
result=$(grep -a '^ARCH386VM RESULT' "$dir/console.log" | tr -d '\r')
echo "${result:-no ARCH386VM RESULT line on the console}"
[[ $result == "ARCH386VM RESULT PASS"* ]]

//go:build linux

package capture

import (
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// BootID is this boot's random id ("" when unknown).
func BootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// boottimeNS is CLOCK_BOOTTIME: it never steps and counts suspend.
func boottimeNS() (int64, bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0, false
	}
	return ts.Nano(), true
}

//go:build linux

package capture

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ecdata/ectool/diag/exitcode"
)

// ErrRunAsCgo: this binary was built with cgo (as `go test -race` builds
// it), where Go cannot change the capabilities of every thread.
var ErrRunAsCgo error = exitcode.New(exitcode.KindCannotRun, "--run-as needs the static ectool build (CGO_ENABLED=0): this binary uses cgo, where capabilities cannot be set on every thread",
	"use the release binary (built with CGO_ENABLED=0)")

// RunAs switches the whole process to user name (uid, its primary group, no
// supplementary groups) keeping only CAP_NET_RAW, permitted, effective,
// inheritable and ambient, on every thread, and nothing else in the bounding
// set. It must run as root, before any socket or file is opened.
func RunAs(name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("--run-as %s: %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	all := func(trap, a1, a2, a3 uintptr) error {
		if _, _, e := syscall.AllThreadsSyscall(trap, a1, a2, a3); e != 0 {
			if e == syscall.ENOTSUP {
				return ErrRunAsCgo
			}
			return e
		}
		return nil
	}
	if err := all(unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 1, 0); err != nil {
		return runAsErr(name, "keeping capabilities", err)
	}
	for c := 0; c <= lastCap(); c++ {
		if c == unix.CAP_NET_RAW {
			continue
		}
		if err := all(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0); err != nil {
			return runAsErr(name, "dropping capability "+strconv.Itoa(c), err)
		}
	}
	if err := syscall.Setgroups([]int{}); err != nil {
		return runAsErr(name, "dropping groups", err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return runAsErr(name, "setgid", err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return runAsErr(name, "setuid", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{{Effective: 1 << unix.CAP_NET_RAW, Permitted: 1 << unix.CAP_NET_RAW, Inheritable: 1 << unix.CAP_NET_RAW}}
	if err := all(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); err != nil {
		return runAsErr(name, "keeping CAP_NET_RAW", err)
	}
	if err := all(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, unix.CAP_NET_RAW); err != nil {
		return runAsErr(name, "raising ambient CAP_NET_RAW", err)
	}
	return all(unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 0, 0)
}

func runAsErr(name, step string, err error) error {
	if errors.Is(err, ErrRunAsCgo) {
		return err
	}
	if errors.Is(err, syscall.EPERM) {
		return &PermissionError{Err: fmt.Errorf("--run-as %s: %s: %w (start ectool as root to use --run-as)", name, step, err)}
	}
	return fmt.Errorf("--run-as %s: %s: %w", name, step, err)
}

// lastCap is the highest capability this kernel knows.
func lastCap() int {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return unix.CAP_LAST_CAP
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return unix.CAP_LAST_CAP
	}
	return n
}

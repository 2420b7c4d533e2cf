package capture

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/ecdata/ectool/diag/exitcode"
)

// LiveOptions configure a live capture (Live).
type LiveOptions struct {
	// Ifaces are interface names; "any" is every interface (LINUX_SLL2).
	Ifaces []string
	// Filter is the expression every interface is filtered with ("": all).
	Filter string
	// Snaplen cuts each packet (DefaultSnaplen when 0).
	Snaplen uint32
	// Buffer is the kernel's receive buffer per interface, in bytes.
	Buffer int
	// WaitIface waits for missing interfaces instead of failing (a modem's
	// wwan0 appears after boot).
	WaitIface bool
	// Ring is where the packets go; its Interfaces are filled in by Live.
	Ring RingOptions
	// Ready is called once every interface is open (tests wait for it).
	Ready func()
	// Warn receives what a person should read on stderr.
	Warn func(string)
}

// IfaceResult is one interface's share of a live capture.
type IfaceResult struct {
	Name     string `json:"name"`
	LinkType string `json:"link_type"`
	Packets  uint64 `json:"packets"`
	Bytes    uint64 `json:"bytes"`
	// KernelReceived and KernelDropped are PACKET_STATISTICS totals (nil:
	// unavailable, e.g. under qemu-user).
	KernelReceived *uint64 `json:"kernel_received"`
	KernelDropped  *uint64 `json:"kernel_dropped"`
	Reopened       int     `json:"reopened"`
	// Reader is how it was read: tpacket_v3 (an mmap ring, 64-bit) or
	// recvfrom (recvmsg: 32-bit, qemu-user, the any device).
	Reader string `json:"reader"`
}

// LiveResult is what a live capture did, for the exit summary.
type LiveResult struct {
	Dir        string        `json:"dir"`
	StartedAt  time.Time     `json:"started_at"`
	Duration   time.Duration `json:"-"`
	Packets    uint64        `json:"packets"`
	Bytes      uint64        `json:"bytes"`
	DiskDrops  uint64        `json:"disk_drops"`
	Files      []string      `json:"files"`
	Interfaces []IfaceResult `json:"interfaces"`
	Reader     string        `json:"reader"`
}

// DropsText is the kernel drops for a summary line ("unavailable" when the
// kernel would not say).
func (r *LiveResult) DropsText() string {
	var d uint64
	for _, in := range r.Interfaces {
		if in.KernelDropped == nil {
			return "unavailable"
		}
		d += *in.KernelDropped
	}
	return fmt.Sprint(d)
}

// ErrNotSupported: live capture needs Linux.
var ErrNotSupported error = exitcode.Unsupported("live capture", runtime.GOOS, "capture on a Linux gateway; ls, status and export work here")

// PermissionError: the process may not open a packet socket (exit 3).
type PermissionError struct{ Err error }

func (e *PermissionError) Error() string {
	return "opening a packet socket: " + e.Err.Error() + " (capturing needs CAP_NET_RAW)"
}

func (e *PermissionError) Unwrap() error { return e.Err }

// ExitKind is exitcode.KindCannotRun.
func (e *PermissionError) ExitKind() exitcode.Kind { return exitcode.KindCannotRun }

// NextStep says how to give the capture its one capability.
func (e *PermissionError) NextStep() string {
	return "run as root, give this binary the capability (sudo setcap cap_net_raw+ep $(command -v ectool)), or start as root with --run-as USER"
}

// IfaceError: an interface is missing (or cannot be used): exit 3.
type IfaceError struct {
	Name string
	Err  error
}

func (e *IfaceError) Error() string { return fmt.Sprintf("interface %s: %v", e.Name, e.Err) }

func (e *IfaceError) Unwrap() error { return e.Err }

// ExitKind is exitcode.KindCannotRun.
func (e *IfaceError) ExitKind() exitcode.Kind { return exitcode.KindCannotRun }

// NextStep points at the interfaces there are, and at waiting for one.
func (e *IfaceError) NextStep() string {
	return "list the interfaces with 'ip link'; --wait-iface waits for one that appears later (a modem)"
}

// ErrNoSuchIface wraps a missing interface in an IfaceError.
var ErrNoSuchIface = errors.New("no such interface")

// linkTypeForARPHRD maps a Linux ARPHRD_ type to the link type of a
// SOCK_RAW capture on it.
func linkTypeForARPHRD(hatype int) (layers.LinkType, error) {
	switch hatype {
	case 1, 772: // ETHER, LOOPBACK (the kernel gives lo a fake Ethernet header)
		return layers.LinkTypeEthernet, nil
	case 65534, 519: // NONE (tun, wwan raw-ip), RAWIP
		return layers.LinkTypeRaw, nil
	}
	return 0, fmt.Errorf("ARPHRD type %d is not supported (ectool captures Ethernet, loopback, raw IP and the any device)", hatype)
}

package capture

import (
	"errors"
	"fmt"
	"time"

	"github.com/gopacket/gopacket/layers"
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
var ErrNotSupported = errors.New("live capture is not supported on this OS")

// PermissionError: the process may not open a packet socket.
type PermissionError struct{ Err error }

func (e *PermissionError) Error() string {
	return "opening a packet socket: " + e.Err.Error() + " (capturing needs CAP_NET_RAW)"
}

func (e *PermissionError) Unwrap() error { return e.Err }

// IfaceError: an interface is missing (or cannot be used).
type IfaceError struct {
	Name string
	Err  error
}

func (e *IfaceError) Error() string { return fmt.Sprintf("interface %s: %v", e.Name, e.Err) }

func (e *IfaceError) Unwrap() error { return e.Err }

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

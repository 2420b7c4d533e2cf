//go:build linux

package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// packetSocket is an AF_PACKET socket read with recvmsg through Go's
// poller: no mmap ring, so it works the same on 32-bit targets (where
// gopacket's afpacket panics) and under qemu-user.
type packetSocket struct {
	name    string
	ifindex int
	lt      layers.LinkType // what the file records
	dgram   bool            // the any device: SOCK_DGRAM, stored as LINUX_SLL2
	loIndex int             // drop outgoing copies on this ifindex in user space (0: none)
	filter  *bpf.VM         // user-space filter when the kernel refused ours

	f  *os.File
	rc syscall.RawConn
	waitGate
	fd  int
	buf []byte
	oob []byte
	sa  unix.RawSockaddrLinklayer
	iov unix.Iovec
	msg unix.Msghdr

	recv, drops uint64
	statsOK     bool
}

func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

// ifaceLink finds an interface's index and link type.
func ifaceLink(name string) (int, layers.LinkType, error) {
	if name == "any" {
		return 0, LinkSLL2, nil
	}
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return 0, 0, &IfaceError{Name: name, Err: ErrNoSuchIface}
	}
	b, err := os.ReadFile("/sys/class/net/" + name + "/type")
	if err != nil {
		return 0, 0, &IfaceError{Name: name, Err: ErrNoSuchIface}
	}
	hatype, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, 0, &IfaceError{Name: name, Err: err}
	}
	lt, err := linkTypeForARPHRD(hatype)
	if err != nil {
		return 0, 0, &IfaceError{Name: name, Err: err}
	}
	return ifi.Index, lt, nil
}

// openPacketSocket opens, filters and binds a packet socket on name. The
// filter is attached before the socket is bound, so nothing unfiltered
// slips in.
func openPacketSocket(name, expr string, snaplen uint32, buffer int, warn func(string)) (*packetSocket, error) {
	idx, lt, err := ifaceLink(name)
	if err != nil {
		return nil, err
	}
	s := &packetSocket{name: name, ifindex: idx, lt: lt, dgram: name == "any"}
	typ, compileFor, cut := unix.SOCK_RAW, lt, snaplen
	if s.dgram {
		typ, compileFor, cut = unix.SOCK_DGRAM, linkCooked, snaplen-min(snaplen, 20)
	}
	fd, err := unix.Socket(unix.AF_PACKET, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, &PermissionError{Err: err}
		}
		return nil, fmt.Errorf("opening a packet socket: %w", err)
	}
	s.fd = fd
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
		}
	}()
	lo := name == "lo"
	flt, err := CompileFilter(expr, compileFor, CompileOptions{Snaplen: max(cut, 1), DropOutgoing: lo})
	if err != nil {
		return nil, err
	}
	if err := attachFilter(fd, flt.Program); err != nil {
		// qemu-user and old kernels: filter in user space instead.
		plain, _ := CompileFilter(expr, compileFor, CompileOptions{Snaplen: max(cut, 1)})
		if s.filter, err = bpf.NewVM(plain.Program); err != nil {
			return nil, err
		}
		if lo {
			s.loIndex = idx
		}
		warn(fmt.Sprintf("%s: the kernel refused the filter (%v): filtering in ectool instead", name, err))
	}
	if s.dgram {
		if i, err := net.InterfaceByName("lo"); err == nil {
			s.loIndex = i.Index // libpcap's any device drops lo's outgoing copies too
		}
	}
	if buffer > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, buffer); err != nil {
			_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, buffer)
			// The kernel reports twice what it grants.
			if got, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF); err == nil && got/2 < buffer {
				warn(fmt.Sprintf("%s: the receive buffer is %d bytes, not --buffer %d: without CAP_NET_ADMIN net.core.rmem_max caps it (sysctl -w net.core.rmem_max=%d)", name, got/2, buffer, buffer))
			}
		}
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: idx}); err != nil {
		if errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO) {
			return nil, &IfaceError{Name: name, Err: ErrNoSuchIface}
		}
		return nil, &IfaceError{Name: name, Err: err}
	}
	// Counters start now: the first read resets what the kernel counted
	// before the bind.
	if _, err := unix.GetsockoptTpacketStats(fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
		s.statsOK = true
	}
	s.f = os.NewFile(uintptr(fd), "packet:"+name)
	s.waitGate.f = s.f
	if s.rc, err = s.f.SyscallConn(); err != nil {
		return nil, err
	}
	s.buf = make([]byte, int(snaplen)+64)
	s.oob = make([]byte, 64)
	ok = true
	return s, nil
}

func attachFilter(fd int, prog []bpf.Instruction) error {
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return err
	}
	fp := unix.SockFprog{Len: uint16(len(raw)), Filter: (*unix.SockFilter)(unsafe.Pointer(&raw[0]))}
	return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fp)
}

// packetFunc receives one packet; data is valid only during the call.
type packetFunc func(ts time.Time, data []byte, orig int)

// read drains the packets waiting on the socket (blocking in the poller
// until at least one comes or the deadline passes) and gives each to fn.
func (s *packetSocket) read(fn packetFunc, deadline time.Time) error {
	if err := s.arm(deadline); err != nil {
		return err
	}
	var rerr error
	got := 0
	err := s.rc.Read(func(fd uintptr) bool {
		for {
			n, ts, orig, e := s.recv1(int(fd))
			if e == unix.EAGAIN {
				return got > 0
			}
			if e != 0 {
				rerr = e
				return true
			}
			got++
			if n >= 0 {
				fn(ts, s.buf[:n], orig)
			}
			if got >= recvBatch {
				return true
			}
		}
	})
	if rerr != nil {
		return rerr
	}
	if err == nil && got < recvBatch && !s.stopped.Load() {
		// A slow link would wake this reader (and Go's scheduler) once a
		// packet: about 50 us of CPU each, 10 % of a core at 2,000 pps.
		// Letting the kernel queue packets for recvCoalesce first, as a
		// TPACKET block timeout does, makes that one wake-up per batch.
		time.Sleep(recvCoalesce)
	}
	return err
}

// recvBatch is the most packets one wake-up drains before the reader
// looks at its stop and write error again.
const recvBatch = 256

// recvCoalesce is how long a reader that drained less than a full batch
// lets the kernel queue packets before it waits again. The socket's
// buffer (--buffer, 4 MiB by default: some 3,000 small packets at the
// kernel's per-packet truesize) holds 10 ms of 300,000 pps; a faster link
// fills every batch and never pauses. A stop waits for it at most once.
const recvCoalesce = 10 * time.Millisecond

// settle reads, after a stop, what is still queued on the socket.
// The socket is non-blocking: Control's recvmsg loop ends at EAGAIN.
func (s *packetSocket) settle(fn packetFunc) {
	_ = s.rc.Control(func(fd uintptr) {
		for got := 0; got < 1<<16; got++ {
			n, ts, orig, e := s.recv1(int(fd))
			if e != 0 {
				return
			}
			if n >= 0 {
				fn(ts, s.buf[:n], orig)
			}
		}
	})
}

// recv1 receives one packet into s.buf; n < 0 means it was skipped
// (filtered in user space, or lo's outgoing copy).
func (s *packetSocket) recv1(fd int) (n int, ts time.Time, orig int, errno unix.Errno) {
	off := 0
	if s.dgram {
		off = 20 // room for the LINUX_SLL2 header
	}
	s.iov.Base = &s.buf[off]
	s.iov.SetLen(len(s.buf) - off)
	s.msg.Name = (*byte)(unsafe.Pointer(&s.sa))
	s.msg.Namelen = unix.SizeofSockaddrLinklayer
	s.msg.Iov = &s.iov
	s.msg.Iovlen = 1
	s.msg.Control = &s.oob[0]
	s.msg.SetControllen(len(s.oob))
	r, _, e := unix.Syscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&s.msg)), unix.MSG_TRUNC)
	if e != 0 {
		return -1, ts, 0, e
	}
	orig = int(r)
	n = min(orig, len(s.buf)-off)
	ts = s.timestamp()
	if s.loIndex != 0 && s.sa.Pkttype == unix.PACKET_OUTGOING && int(s.sa.Ifindex) == s.loIndex {
		return -1, ts, 0, 0
	}
	if s.filter != nil {
		if v, err := s.filter.Run(s.buf[off : off+n]); err != nil || v == 0 {
			return -1, ts, 0, 0
		}
	}
	if s.dgram {
		s.sll2Header()
		n, orig = n+20, orig+20
	}
	return n, ts, orig, 0
}

// sll2Header writes the LINUX_SLL2 header from the sender's address.
func (s *packetSocket) sll2Header() {
	h := s.buf[:20]
	binary.BigEndian.PutUint16(h[0:], binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&s.sa.Protocol))[:]))
	h[2], h[3] = 0, 0
	binary.BigEndian.PutUint32(h[4:], uint32(s.sa.Ifindex))
	binary.BigEndian.PutUint16(h[8:], s.sa.Hatype)
	h[10] = s.sa.Pkttype
	h[11] = s.sa.Halen
	copy(h[12:20], s.sa.Addr[:])
}

// timestamp is the kernel's receive time (SO_TIMESTAMPNS), or now when the
// kernel (or qemu-user) gave none.
func (s *packetSocket) timestamp() time.Time {
	if int(s.msg.Controllen) >= unix.CmsgLen(int(unsafe.Sizeof(unix.Timespec{}))) {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&s.oob[0]))
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SO_TIMESTAMPNS {
			ts := (*unix.Timespec)(unsafe.Pointer(&s.oob[unix.CmsgLen(0)]))
			return time.Unix(int64(ts.Sec), int64(ts.Nsec))
		}
	}
	return time.Now()
}

// counters reads PACKET_STATISTICS (which resets the kernel's counts) and
// adds it to the totals.
func (s *packetSocket) counters() Counters {
	if !s.statsOK {
		return Counters{}
	}
	st, err := unix.GetsockoptTpacketStats(s.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return Counters{Received: s.recv, Dropped: s.drops, Available: true}
	}
	s.recv += uint64(st.Packets)
	s.drops += uint64(st.Drops)
	return Counters{Received: s.recv, Dropped: s.drops, Available: true}
}

func (s *packetSocket) info() (string, int, layers.LinkType) { return s.name, s.ifindex, s.lt }

// carry continues the totals of the socket this one replaces.
func (s *packetSocket) carry(c Counters) {
	s.recv, s.drops, s.statsOK = c.Received, c.Dropped, s.statsOK && c.Available
}

func (s *packetSocket) close() {
	if s.f != nil {
		s.f.Close()
	}
}

// LinkTypeOf is the link type a capture on the interface records (an
// *IfaceError when it is missing or of a kind ectool cannot capture).
func LinkTypeOf(name string) (layers.LinkType, error) {
	_, lt, err := ifaceLink(name)
	return lt, err
}

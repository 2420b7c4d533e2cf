//go:build linux && (amd64 || arm64 || ppc64 || ppc64le || mips64 || mips64le || riscv64 || s390x || loong64)

package capture

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"syscall"
	"time"

	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// tpacketAvailable: gopacket's afpacket (TPACKET_V3, an mmap ring read in
// blocks) is used on 64-bit targets only: on 32-bit it panics on unaligned
// 64-bit counters (gopacket/gopacket#133).
const tpacketAvailable = true

// tpacketSource reads a TPACKET_V3 ring sized from --buffer. The kernel
// hands over a block of packets at a time (full, or after the block
// timeout), so a busy capture costs one wake-up per block, not per packet.
//
// The wait for a block happens in Go's poller (f, a duplicate of the
// ring's socket): afpacket's own wait is a blocking poll(2), and after
// each such system call longer than 10 ms the runtime's monitor thread
// takes the processor back and polls again from every 20 µs, backing off
// to 10 ms; with a wait per block that was a third of a quiet capture's
// CPU. f is nil when afpacket's socket cannot be reached
// (another afpacket version): afpacket then waits itself, up to
// blockingPoll.
type tpacketSource struct {
	name    string
	ifindex int
	lt      layers.LinkType
	tp      *afpacket.TPacket
	f       *os.File
	rc      syscall.RawConn
	waitGate
	tov time.Duration // the block timeout
	// notBefore drops what the ring caught before the filter was attached
	// (gopacket binds the socket first).
	notBefore time.Time
	settled   bool
	base      Counters
	statsOK   bool
}

// tpacketGeometry sizes the ring: blocks that hold the largest packet,
// as many as --buffer allows (at least 2).
func tpacketGeometry(snaplen uint32, buffer int) (blockSize, numBlocks int) {
	blockSize = 256 << 10
	for blockSize < int(snaplen)+4096 {
		blockSize *= 2
	}
	numBlocks = max(buffer/blockSize, 2)
	return blockSize, numBlocks
}

func openTPacket(name, expr string, snaplen uint32, buffer int, flush time.Duration) (*tpacketSource, error) {
	idx, lt, err := ifaceLink(name)
	if err != nil {
		return nil, err
	}
	flt, err := CompileFilter(expr, lt, CompileOptions{Snaplen: snaplen, DropOutgoing: name == "lo"})
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(flt.Program)
	if err != nil {
		return nil, err
	}
	bs, nb := tpacketGeometry(snaplen, buffer)
	// Blocks retire within an eighth of --flush, so a packet reaches the
	// writer well inside the flush budget even on a quiet link. Each
	// retired block is one wake-up: at the default --flush (1s) a slow
	// link costs 8 a second. The cap keeps a stop quick (settle waits for
	// the open block).
	tov := min(max(flush/8, time.Millisecond), 250*time.Millisecond)
	poll := blockingPoll
	if afpacketFDField() {
		poll = 0 // afpacket only looks; the wait is in Go's poller
	}
	tp, err := newTPacket(name, bs, nb, tov, poll)
	if err != nil {
		return nil, err
	}
	f, rc := pollerFile(tp)
	if poll == 0 && f == nil {
		tp.Close()
		if tp, err = newTPacket(name, bs, nb, tov, blockingPoll); err != nil {
			return nil, err
		}
	}
	if err := tp.SetBPF(raw); err != nil {
		if f != nil {
			f.Close()
		}
		tp.Close()
		return nil, fmt.Errorf("attaching the filter on %s: %w", name, err)
	}
	s := &tpacketSource{name: name, ifindex: idx, lt: lt, tp: tp, f: f, rc: rc, waitGate: waitGate{f: f}, tov: tov, notBefore: time.Now()}
	if _, _, err := tp.SocketStats(); err == nil {
		s.statsOK = true
	}
	return s, nil
}

// blockingPoll is how long afpacket's own poll(2) waits when the wait
// cannot be in Go's poller: it bounds how late a stop is seen.
const blockingPoll = 200 * time.Millisecond

func newTPacket(name string, bs, nb int, tov, poll time.Duration) (*afpacket.TPacket, error) {
	tp, err := afpacket.NewTPacket(afpacket.OptInterface(name), afpacket.OptTPacketVersion(afpacket.TPacketVersion3),
		afpacket.OptFrameSize(4096), afpacket.OptBlockSize(bs), afpacket.OptNumBlocks(nb),
		afpacket.OptBlockTimeout(tov), afpacket.OptPollTimeout(poll), afpacket.OptAddVLANHeader(false))
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, &PermissionError{Err: err}
		}
		return nil, fmt.Errorf("TPACKET_V3 ring on %s: %w", name, err)
	}
	return tp, nil
}

// afpacketFDField reports whether afpacket's TPacket keeps its socket in
// an int field named fd (it has no accessor for it).
func afpacketFDField() bool {
	f, ok := reflect.TypeFor[afpacket.TPacket]().FieldByName("fd")
	return ok && f.Type.Kind() == reflect.Int
}

// pollerFile opens a duplicate of tp's socket in Go's poller (nil when the
// socket cannot be found or the poller refuses it). The duplicate shares
// the socket: it is readable when the ring holds a retired block.
func pollerFile(tp *afpacket.TPacket) (*os.File, syscall.RawConn) {
	if !afpacketFDField() {
		return nil, nil
	}
	fd := int(reflect.ValueOf(tp).Elem().FieldByName("fd").Int())
	if fd < 0 {
		return nil, nil
	}
	if dom, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN); err != nil || dom != unix.AF_PACKET {
		return nil, nil
	}
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, nil
	}
	// O_NONBLOCK is on the shared file description; afpacket only polls
	// and mmaps it, which the flag does not change.
	if err := unix.SetNonblock(dup, true); err != nil {
		unix.Close(dup)
		return nil, nil
	}
	f := os.NewFile(uintptr(dup), "tpacket")
	rc, err := f.SyscallConn()
	if err != nil || f.SetReadDeadline(time.Time{}) != nil { // no deadline: not in the poller
		f.Close()
		return nil, nil
	}
	return f, rc
}

func (s *tpacketSource) info() (string, int, layers.LinkType) { return s.name, s.ifindex, s.lt }

// read hands over every packet ready now, or waits in Go's poller until a
// block is ready or the deadline passes (errTimeout). Without the poller,
// afpacket waits itself up to blockingPoll and the deadline is not used.
func (s *tpacketSource) read(fn packetFunc, deadline time.Time) error {
	if s.rc == nil {
		return s.drain(fn)
	}
	if err := s.arm(deadline); err != nil {
		return err
	}
	var derr error
	err := s.rc.Read(func(uintptr) bool {
		derr = s.drain(fn)
		return !errors.Is(derr, errTimeout)
	})
	if err != nil && !errors.Is(err, errTimeout) {
		// The poller reports a socket error (the interface went down) as
		// an error of its own: let afpacket's look at the socket name it.
		if derr = s.drain(fn); derr != nil && !errors.Is(derr, errTimeout) {
			return derr
		}
		return err
	}
	if err != nil {
		return err
	}
	return derr
}

// settle reads, after a stop, what the kernel took before it: those
// packets wait in the ring's open block until it retires, at most the
// block timeout later. It returns at once when nothing is left unread.
func (s *tpacketSource) settle(fn packetFunc) {
	end := time.Now().Add(s.tov + 50*time.Millisecond)
	for s.unread() > 0 && time.Now().Before(end) {
		if s.rc == nil {
			_ = s.drain(fn) // afpacket's poll waits up to blockingPoll
			continue
		}
		if s.f.SetReadDeadline(end) != nil {
			return
		}
		_ = s.rc.Read(func(uintptr) bool { return !errors.Is(s.drain(fn), errTimeout) })
	}
}

// unread is how many packets the kernel put in the ring that were not
// read yet (0 when it cannot tell).
func (s *tpacketSource) unread() int64 {
	_, v3, err := s.tp.SocketStats()
	if err != nil {
		return 0
	}
	st, _ := s.tp.Stats()
	return int64(v3.Packets()) - int64(v3.Drops()) - st.Packets
}

// drain hands over up to 1024 packets that are ready; errTimeout when none
// is (after afpacket's poll timeout: 0 with the poller).
func (s *tpacketSource) drain(fn packetFunc) error {
	for n := 0; n < 1024; n++ {
		data, ci, err := s.tp.ZeroCopyReadPacketData()
		if err != nil {
			switch {
			case errors.Is(err, afpacket.ErrTimeout):
				if n == 0 {
					return errTimeout
				}
				return nil
			case errors.Is(err, afpacket.ErrPoll):
				return unix.ENETDOWN // the socket's error: the interface went down or away
			}
			return err
		}
		if !s.settled {
			if ci.Timestamp.Before(s.notBefore) {
				continue
			}
			// From here on the filter ran on everything: never compare
			// again, or a clock stepped back would hide packets.
			s.settled = true
		}
		fn(ci.Timestamp, data, ci.Length)
	}
	return nil
}

func (s *tpacketSource) counters() Counters {
	if !s.statsOK {
		return Counters{}
	}
	_, v3, err := s.tp.SocketStats()
	if err != nil {
		return Counters{Received: s.base.Received, Dropped: s.base.Dropped, Available: true}
	}
	return Counters{Received: s.base.Received + uint64(v3.Packets()), Dropped: s.base.Dropped + uint64(v3.Drops()), Available: true}
}

func (s *tpacketSource) carry(c Counters) {
	s.base = Counters{Received: c.Received, Dropped: c.Dropped}
	s.statsOK = s.statsOK && c.Available
}

func (s *tpacketSource) close() {
	if s.f != nil {
		s.f.Close()
	}
	s.tp.Close()
}

//go:build linux && (amd64 || arm64 || ppc64 || ppc64le || mips64 || mips64le || riscv64 || s390x || loong64)

package capture

import (
	"errors"
	"fmt"
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
type tpacketSource struct {
	name    string
	ifindex int
	lt      layers.LinkType
	tp      *afpacket.TPacket
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
	// writer well inside the flush budget even on a quiet link.
	tov := min(max(flush/8, time.Millisecond), 64*time.Millisecond)
	tp, err := afpacket.NewTPacket(afpacket.OptInterface(name), afpacket.OptTPacketVersion(afpacket.TPacketVersion3),
		afpacket.OptFrameSize(4096), afpacket.OptBlockSize(bs), afpacket.OptNumBlocks(nb),
		afpacket.OptBlockTimeout(tov), afpacket.OptPollTimeout(readSlice), afpacket.OptAddVLANHeader(false))
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, &PermissionError{Err: err}
		}
		return nil, fmt.Errorf("TPACKET_V3 ring on %s: %w", name, err)
	}
	if err := tp.SetBPF(raw); err != nil {
		tp.Close()
		return nil, fmt.Errorf("attaching the filter on %s: %w", name, err)
	}
	s := &tpacketSource{name: name, ifindex: idx, lt: lt, tp: tp, notBefore: time.Now()}
	if _, _, err := tp.SocketStats(); err == nil {
		s.statsOK = true
	}
	return s, nil
}

func (s *tpacketSource) info() (string, int, layers.LinkType) { return s.name, s.ifindex, s.lt }

// read hands over every packet ready now (or waits up to the poll timeout
// for one). The deadline is the poll timeout set at open.
func (s *tpacketSource) read(fn packetFunc, _ time.Time) error {
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

func (s *tpacketSource) close() { s.tp.Close() }

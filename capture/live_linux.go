//go:build linux

package capture

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"
)

// reopenPoll is how often a vanished (or not yet present) interface is
// looked for.
const reopenPoll = 250 * time.Millisecond

// readSlice bounds how long a reader waits in Go's poller before it looks
// at ctx again. A stop does not wait for it (readLoop interrupts the
// wait); it only bounds a stop that raced the start of a wait.
const readSlice = time.Second

// errTimeout is a read that found nothing before its deadline.
var errTimeout = os.ErrDeadlineExceeded

// source is one interface's packet reader: a TPACKET_V3 ring (64-bit) or
// a recvmsg socket (32-bit, qemu-user, the any device).
type source interface {
	read(fn packetFunc, deadline time.Time) error
	counters() Counters
	carry(Counters)
	close()
	info() (name string, ifindex int, lt layers.LinkType)
	// interrupt ends the current or next wait in read (errTimeout).
	interrupt()
	// settle reads, after a stop, the packets the kernel took before it.
	settle(fn packetFunc)
}

// waitGate lets a stop interrupt a reader's wait in Go's poller: the
// reader arms the deadline, then looks at stopped; a stop sets stopped,
// then moves the deadline to the past. Either order ends the wait.
type waitGate struct {
	f       *os.File
	stopped atomic.Bool
}

// arm sets the wait's deadline; errTimeout when a stop came already.
func (g *waitGate) arm(deadline time.Time) error {
	if err := g.f.SetReadDeadline(deadline); err != nil {
		return err
	}
	if g.stopped.Load() {
		return errTimeout
	}
	return nil
}

func (g *waitGate) interrupt() {
	if g.f != nil {
		g.stopped.Store(true)
		_ = g.f.SetReadDeadline(time.Unix(1, 0))
	}
}

// readerEnv forces the recvmsg reader (ECTOOL_CAPTURE_READER=recvfrom),
// for comparisons such as scripts/bench/capture.sh.
const readerEnv = "ECTOOL_CAPTURE_READER"

// openSource opens the best reader for name: a TPACKET_V3 ring where
// gopacket's afpacket works (64-bit, not the any device, whose LINUX_SLL2
// header needs the sender address recvmsg gives), else recvmsg.
func (lc *liveCapture) openSource(name string) (source, string, error) {
	o := lc.o
	if tpacketAvailable && name != "any" && os.Getenv(readerEnv) != "recvfrom" {
		s, err := openTPacket(name, o.Filter, o.Snaplen, o.Buffer, o.Ring.Flush)
		if err == nil {
			return s, "tpacket_v3", nil
		}
		var pe *PermissionError
		var ie *IfaceError
		var fe *FilterError
		if errors.As(err, &pe) || errors.As(err, &ie) || errors.As(err, &fe) {
			return nil, "", err
		}
		o.Warn(fmt.Sprintf("%v: reading with recvmsg instead", err))
	}
	s, err := openPacketSocket(name, o.Filter, o.Snaplen, o.Buffer, o.Warn)
	if err != nil {
		return nil, "", err
	}
	return s, "recvfrom", nil
}

// Live captures on o.Ifaces into the ring until ctx ends, then flushes,
// fsyncs, writes the final statistics and returns what it did. A missing
// interface is an *IfaceError unless WaitIface; no CAP_NET_RAW is a
// *PermissionError; a held ring is a *LockedError.
func Live(ctx context.Context, o LiveOptions) (*LiveResult, error) {
	if o.Snaplen == 0 {
		o.Snaplen = DefaultSnaplen
	}
	if o.Warn == nil {
		o.Warn = func(string) {}
	}
	if o.Ring.Warn == nil {
		o.Ring.Warn = o.Warn
	}
	if _, err := ParseFilter(o.Filter); err != nil {
		return nil, err
	}
	if o.Ring.Flush == 0 {
		o.Ring.Flush = time.Second
	}
	lc := &liveCapture{o: o, socks: make([]source, len(o.Ifaces)), readers: make([]string, len(o.Ifaces)), reopened: make([]int, len(o.Ifaces))}
	defer lc.closeAll()
	for i, name := range o.Ifaces {
		wait := noWait
		if o.WaitIface {
			wait = waitStart
		}
		s, reader, err := lc.open(ctx, name, wait)
		if err != nil {
			return nil, err
		}
		lc.socks[i], lc.readers[i] = s, reader
		_, _, lt := s.info()
		o.Ring.Interfaces = append(o.Ring.Interfaces, IfaceSpec{Name: name, LinkType: lt, Snaplen: o.Snaplen, Filter: o.Filter})
	}
	w, err := NewRingWriter(o.Ring)
	if err != nil {
		return nil, err
	}
	lc.w = w
	start := time.Now()
	if o.Ready != nil {
		o.Ready()
	}
	err = lc.run(ctx)
	lc.mu.Lock()
	lc.updateCounters()
	cerr := w.Close()
	lc.mu.Unlock()
	if err == nil {
		err = cerr
	}
	return lc.result(start), err
}

type liveCapture struct {
	o        LiveOptions
	socks    []source
	readers  []string
	reopened []int
	w        *RingWriter
	mu       sync.Mutex // guards w, socks' counters
}

// waitMode says whether open waits for a missing interface.
type waitMode int

const (
	noWait    waitMode = iota
	waitStart          // --wait-iface at start: say so once
	waitBack           // a vanished interface: reopen already said so
)

// open opens name, waiting for it to appear unless wait is noWait.
func (lc *liveCapture) open(ctx context.Context, name string, wait waitMode) (source, string, error) {
	warned := false
	for {
		s, reader, err := lc.openSource(name)
		var ie *IfaceError
		if err == nil || !errors.As(err, &ie) || !errors.Is(err, ErrNoSuchIface) || wait == noWait {
			return s, reader, err
		}
		if !warned && wait == waitStart {
			lc.o.Warn(fmt.Sprintf("interface %s is not there: waiting for it (--wait-iface)", name))
		}
		warned = true
		select {
		case <-ctx.Done():
			return nil, "", ctx.Err()
		case <-time.After(reopenPoll):
		}
	}
}

// run reads every interface until ctx ends or a reader fails.
func (lc *liveCapture) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, len(lc.socks)+1)
	for i := range lc.socks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := lc.readLoop(ctx, i); err != nil {
				errc <- err
				cancel()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := lc.maintainLoop(ctx); err != nil {
			errc <- err
			cancel()
		}
	}()
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// maintainLoop flushes, fsyncs and refreshes the kernel counters on time,
// traffic or not.
func (lc *liveCapture) maintainLoop(ctx context.Context) error {
	for {
		lc.mu.Lock()
		wait := time.Until(lc.w.NextDue())
		lc.mu.Unlock()
		t := time.NewTimer(max(wait, time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		lc.mu.Lock()
		lc.updateCounters()
		err := lc.w.Maintain()
		lc.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

func (lc *liveCapture) updateCounters() {
	for i, s := range lc.socks {
		if s != nil {
			lc.w.SetCounters(i, s.counters())
		}
	}
}

// readLoop reads one interface; a vanished interface is waited for and
// reopened.
func (lc *liveCapture) readLoop(ctx context.Context, i int) error {
	var werr error
	write := func(ts time.Time, data []byte, orig int) {
		lc.mu.Lock()
		if err := lc.w.WritePacket(i, ts, data, orig); err != nil && werr == nil {
			werr = err
		}
		lc.mu.Unlock()
	}
	// A stop ends the wait at once, so stopping never waits for readSlice.
	defer context.AfterFunc(ctx, func() {
		lc.mu.Lock()
		s := lc.socks[i]
		lc.mu.Unlock()
		s.interrupt()
	})()
	for ctx.Err() == nil {
		s := lc.socks[i]
		err := s.read(write, time.Now().Add(readSlice))
		if werr != nil {
			return werr
		}
		if err == nil || errors.Is(err, errTimeout) {
			continue
		}
		if !vanished(err) {
			name, _, _ := s.info()
			return fmt.Errorf("reading %s: %w", name, err)
		}
		if still(s) {
			continue // only down: the kernel resumes the socket when it comes up
		}
		if err := lc.reopen(ctx, i); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	// What the kernel took before the stop belongs in the ring.
	lc.socks[i].settle(write)
	return werr
}

func vanished(err error) bool {
	return errors.Is(err, unix.ENETDOWN) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO)
}

// still reports whether the source's interface exists with the same index.
func still(s source) bool {
	name, idx, _ := s.info()
	ifi, err := net.InterfaceByName(name)
	return err == nil && ifi.Index == idx
}

// reopen waits for a vanished interface and opens it again, keeping its
// counters running (the old socket's totals carry over).
func (lc *liveCapture) reopen(ctx context.Context, i int) error {
	old := lc.socks[i]
	name, _, oldLT := old.info()
	lc.o.Warn(fmt.Sprintf("interface %s vanished: waiting for it to come back", name))
	s, reader, err := lc.open(ctx, name, waitBack)
	if err != nil {
		return err
	}
	if _, _, lt := s.info(); lt != oldLT {
		s.close()
		return &IfaceError{Name: name, Err: fmt.Errorf("came back as %s, not %s: restart the capture", LinkTypeName(lt), LinkTypeName(oldLT))}
	}
	lc.mu.Lock()
	s.carry(old.counters())
	old.close()
	lc.socks[i], lc.readers[i] = s, reader
	lc.reopened[i]++
	lc.mu.Unlock()
	lc.o.Warn(fmt.Sprintf("interface %s is back: capturing again", name))
	return nil
}

func (lc *liveCapture) closeAll() {
	for _, s := range lc.socks {
		if s != nil {
			s.close()
		}
	}
}

func (lc *liveCapture) result(start time.Time) *LiveResult {
	st := lc.w.Status()
	r := &LiveResult{Dir: lc.o.Ring.Dir, StartedAt: start.UTC(), Duration: time.Since(start), Packets: st.Packets,
		Bytes: st.Bytes, DiskDrops: st.DiskDrops, Reader: strings.Join(lc.readers, ",")}
	for _, f := range lc.w.Files() {
		r.Files = append(r.Files, f.Name)
	}
	for i, in := range st.Interfaces {
		r.Interfaces = append(r.Interfaces, IfaceResult{Name: in.Name, LinkType: in.LinkType, Packets: in.Packets, Bytes: in.Bytes,
			KernelReceived: in.KernelReceived, KernelDropped: in.KernelDropped, Reopened: lc.reopened[i], Reader: lc.readers[i]})
	}
	return r
}

package capture

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// RingWriter writes packets into a bounded ring of files: at most
// Files files of at most FileSize bytes each, the oldest deleted before a
// new one opens. It is not safe for concurrent use: one capture loop owns it.
type RingWriter struct {
	o       RingOptions
	lock    *dirLock
	files   []RingFile // ring files, oldest first; the last is cur when open
	nextSeq uint64

	cur        *os.File
	curPath    string
	curSize    int64 // bytes of the file once buf is written
	curPkts    int
	curOpened  time.Time
	enc        encoder
	buf        memBuf
	written    int64 // bytes of the current file on disk
	flushStart int64 // w.written when the running writeOut began
	pending    int   // packets in buf

	counters  []Counters
	ifStats   []IfaceStatus
	started   time.Time
	lastFlush time.Time
	lastSync  time.Time
	st        Status
	closed    bool
	// statusFailing: the last status.json write failed (warned once).
	statusFailing bool
}

// flushAt is how many buffered bytes trigger a write before --flush is due,
// to bound memory.
const flushAt = 256 << 10

// NewRingWriter validates o, prepares the directory (0700 when created),
// takes DIR/.lock and opens the next file of the sequence (a restart
// continues it). A held lock is a *LockedError, a directory that cannot be
// used a *DirError, a bad option an *OptionError.
func NewRingWriter(o RingOptions) (*RingWriter, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o.defaults()
	if err := ensureDir(o.Dir, o.Warn); err != nil {
		return nil, err
	}
	lock, err := lockDir(o.Dir)
	if err != nil {
		var le *LockedError
		if errors.As(err, &le) {
			return nil, err
		}
		return nil, &DirError{Dir: o.Dir, Op: "writing", Err: err}
	}
	// buf is sized once for a flushAt's worth and the encoder's last chunk,
	// so appending to it never copies it on the packet path.
	w := &RingWriter{o: o, lock: lock, counters: make([]Counters, len(o.Interfaces)), buf: memBuf{b: make([]byte, 0, flushAt+16<<10)}}
	files, err := ListRing(o.Dir, o.Prefix)
	if err != nil {
		lock.release()
		return nil, &DirError{Dir: o.Dir, Op: "reading", Err: err}
	}
	w.files = files
	for _, f := range files {
		w.nextSeq = max(w.nextSeq, f.Seq+1)
	}
	now := o.Clock()
	w.started, w.lastFlush, w.lastSync = now, now, now
	for _, in := range o.Interfaces {
		w.ifStats = append(w.ifStats, IfaceStatus{Name: in.Name, LinkType: LinkTypeName(in.LinkType)})
	}
	w.st = Status{Schema: StatusSchema, PID: os.Getpid(), Running: true, BootID: BootID(), StartedAt: now.UTC(),
		FlushMS: o.Flush.Milliseconds(), FsyncMS: o.Fsync.Milliseconds(), Format: o.Format, Prefix: o.Prefix,
		FileSize: o.FileSize, Files: o.Files, Snaplen: maxSnaplen(o.Interfaces), BoundBytes: o.Bound()}
	if err := w.open(now); err != nil {
		lock.release()
		return nil, err
	}
	if err := w.flush(now, false); err != nil {
		w.abandon()
		return nil, err
	}
	return w, nil
}

// Options are the writer's options with defaults filled in.
func (w *RingWriter) Options() RingOptions { return w.o }

// SetCounters records an interface's kernel counters (since the capture
// started): they go into statistics blocks and status.json.
func (w *RingWriter) SetCounters(iface int, c Counters) {
	if iface >= 0 && iface < len(w.counters) {
		w.counters[iface] = c
	}
}

// WritePacket adds a packet captured on interface iface (an index into
// RingOptions.Interfaces), cut to the interface's snap length. Rotation
// happens here; write errors other than a full disk are returned.
func (w *RingWriter) WritePacket(iface int, ts time.Time, data []byte, orig int) error {
	if w.closed {
		return errors.New("capture: write to a closed ring")
	}
	if iface < 0 || iface >= len(w.o.Interfaces) {
		return fmt.Errorf("capture: no interface %d", iface)
	}
	if sl := int(w.o.Interfaces[iface].Snaplen); len(data) > sl {
		data = data[:sl]
	}
	orig = max(orig, len(data))
	rec := w.enc.recordSize(len(data))
	reserve := w.enc.statsSize() * int64(len(w.o.Interfaces))
	now := w.o.Clock()
	if w.cur != nil && w.curPkts > 0 && (w.curSize+rec+reserve > w.o.FileSize ||
		(w.o.FileDuration > 0 && now.Sub(w.curOpened) >= w.o.FileDuration)) {
		if err := w.rotate(now); err != nil {
			return err
		}
	}
	if w.cur == nil {
		if err := w.open(now); err != nil {
			return err
		}
		if w.cur == nil { // the disk could not take even the header
			w.st.DiskDrops++
			return nil
		}
	}
	if err := w.enc.packet(iface, ts, data, orig); err != nil {
		return err
	}
	w.curSize += rec
	w.curPkts++
	w.pending++
	w.st.Packets++
	w.st.Bytes += uint64(len(data))
	w.ifStats[iface].Packets++
	w.ifStats[iface].Bytes += uint64(len(data))
	if len(w.buf.b) >= flushAt {
		if err := w.enc.flush(); err != nil {
			return err
		}
		return w.writeOut()
	}
	return nil
}

// Maintain flushes when a flush is due and fsyncs when --fsync is due. The
// capture loop calls it by NextDue, traffic or not.
func (w *RingWriter) Maintain() error {
	if w.closed {
		return nil
	}
	now := w.o.Clock()
	sync := now.Sub(w.lastSync) >= w.o.Fsync
	if sync || now.Sub(w.lastFlush) >= w.flushEvery() {
		return w.flush(now, sync)
	}
	return nil
}

// flushEvery is when the writer flushes: at 3/4 of --flush, so a packet
// reaches the file within --flush of its capture even when the reader or
// the timer runs late by up to a quarter of it.
func (w *RingWriter) flushEvery() time.Duration { return w.o.Flush * 3 / 4 }

// NextDue is when Maintain next has work (a flush or an fsync).
func (w *RingWriter) NextDue() time.Time {
	next := w.lastFlush.Add(w.flushEvery())
	if s := w.lastSync.Add(w.o.Fsync); s.Before(next) {
		next = s
	}
	return next
}

// flush pushes encoded bytes to the file, optionally fsyncs it, and
// rewrites status.json.
func (w *RingWriter) flush(now time.Time, sync bool) error {
	var err error
	if w.cur != nil {
		if err = w.enc.flush(); err == nil {
			err = w.writeOut()
		}
		if err == nil && sync {
			err = w.o.Sync(w.cur)
		}
	}
	w.lastFlush = now
	if sync {
		w.lastSync = now
	}
	if serr := w.writeStatus(now, sync); serr != nil {
		// A status that cannot be written makes the ring look stale to
		// `capture status`, which is the right alarm; the capture goes on.
		if !w.statusFailing {
			w.o.Warn(serr.Error() + ": capture status will call this ring stale until it can be written again")
		}
		w.statusFailing = true
	} else {
		w.statusFailing = false
	}
	return err
}

// writeOut writes the buffered bytes to the current file. A full disk
// deletes the oldest other file and tries again; with none left, the
// buffered packets are dropped (counted in DiskDrops) and the file is cut
// back to its last whole record.
func (w *RingWriter) writeOut() error {
	w.flushStart = w.written
	// Written bytes are skipped with off, not by reslicing buf.b: a
	// resliced buffer loses its head's capacity at every flush, so each
	// flush would grow a fresh one (garbage and page faults at any rate).
	off := 0
	for off < len(w.buf.b) {
		n, err := w.cur.Write(w.buf.b[off:])
		w.written += int64(n)
		off += n
		if err == nil {
			continue
		}
		if !errors.Is(err, syscall.ENOSPC) {
			w.buf.b = w.buf.b[:copy(w.buf.b, w.buf.b[off:])] // keep only what is not on disk
			return &DirError{Dir: w.o.Dir, Op: "writing to", Err: err}
		}
		if victim, ok := w.dropOldest(); ok {
			w.o.Warn(fmt.Sprintf("disk full in %s: deleted the oldest file %s to go on", w.o.Dir, victim))
			continue
		}
		return w.dropPending()
	}
	w.buf.b = w.buf.b[:0]
	w.pending = 0
	return nil
}

// dropPending gives up the buffered packets when the disk is full and the
// current file is the only one left.
func (w *RingWriter) dropPending() error {
	w.st.DiskDrops += uint64(w.pending)
	w.o.Warn(fmt.Sprintf("disk full in %s and no older file to delete: %d packet(s) dropped", w.o.Dir, w.pending))
	start := w.flushStart
	_ = w.cur.Truncate(start)
	_, _ = w.cur.Seek(start, 0)
	w.written = start
	w.curSize = start
	w.buf.b = w.buf.b[:0]
	w.pending = 0
	if start == 0 {
		// Not even the header made it: start over in a new file.
		w.cur.Close()
		_ = os.Remove(w.curPath)
		w.files = w.files[:len(w.files)-1]
		w.cur = nil
	}
	return nil
}

// open starts the next file: the oldest files go first so that, with the
// new one, at most Files remain.
func (w *RingWriter) open(now time.Time) error {
	for len(w.files) >= w.o.Files {
		if _, ok := w.dropOldest(); !ok {
			break
		}
	}
	var f *os.File
	var name string
	for {
		name = fmt.Sprintf("%s_%05d_%s.%s", w.o.Prefix, w.nextSeq, now.UTC().Format("20060102T150405Z"), w.o.Format)
		w.nextSeq++
		var err error
		f, err = os.OpenFile(filepath.Join(w.o.Dir, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue // never clobber: take the next number
		}
		if err != nil {
			return &DirError{Dir: w.o.Dir, Op: "creating a file in", Err: err}
		}
		break
	}
	w.cur, w.curPath, w.curOpened, w.curPkts, w.written = f, filepath.Join(w.o.Dir, name), now, 0, 0
	w.files = append(w.files, RingFile{Path: w.curPath, Name: name, Prefix: w.o.Prefix, Seq: w.nextSeq - 1, Opened: now.UTC()})
	w.buf.b = w.buf.b[:0]
	if w.o.Format == FormatPcap {
		w.enc = &pcapEncoder{out: &w.buf}
	} else {
		w.enc = &ngEncoder{out: &w.buf}
	}
	if err := w.enc.header(w.o.Interfaces, w.o.Comment); err != nil {
		return err
	}
	// Counters at the start of each file let a reader count the drops
	// within the span the ring holds.
	for i := range w.o.Interfaces {
		if err := w.enc.stats(i, now, w.counters[i]); err != nil {
			return err
		}
	}
	if err := w.enc.flush(); err != nil {
		return err
	}
	w.curSize = int64(len(w.buf.b))
	w.st.CurrentFile = name
	// The header goes out at once: a reader of the live ring never meets
	// a file without one.
	return w.writeOut()
}

// finish ends the current file: statistics, flush, fsync, close.
func (w *RingWriter) finish(now time.Time) error {
	if w.cur == nil {
		return nil
	}
	var err error
	for i := range w.o.Interfaces {
		if err == nil {
			err = w.enc.stats(i, now, w.counters[i])
		}
	}
	if err == nil {
		err = w.enc.flush()
	}
	if err == nil {
		err = w.writeOut()
	}
	if err == nil && w.cur != nil {
		err = w.o.Sync(w.cur)
	}
	if w.cur != nil {
		if cerr := w.cur.Close(); err == nil {
			err = cerr
		}
		w.files[len(w.files)-1].Size = w.written
	}
	w.cur = nil
	w.lastSync = now
	syncDir(w.o.Dir)
	return err
}

// rotate closes the current file and opens the next one.
func (w *RingWriter) rotate(now time.Time) error {
	if err := w.finish(now); err != nil {
		return err
	}
	return w.open(now)
}

// dropOldest deletes the oldest ring file that is not being written.
func (w *RingWriter) dropOldest() (string, bool) {
	for i, f := range w.files {
		if f.Path == w.curPath && w.cur != nil {
			continue
		}
		if err := os.Remove(f.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			w.o.Warn(fmt.Sprintf("cannot delete %s to keep the ring bounded: %v", f.Path, err))
			return "", false
		}
		w.files = append(w.files[:i], w.files[i+1:]...)
		return f.Name, true
	}
	return "", false
}

// Close ends the capture: last statistics, flush, fsync, a final
// status.json (running false) and the lock released.
func (w *RingWriter) Close() error {
	if w.closed {
		return nil
	}
	now := w.o.Clock()
	err := w.finish(now)
	w.closed = true
	w.st.Running = false
	if serr := w.writeStatus(now, true); err == nil {
		err = serr
	}
	w.lock.release()
	return err
}

// abandon releases everything after a failed start.
func (w *RingWriter) abandon() {
	if w.cur != nil {
		w.cur.Close()
	}
	w.closed = true
	w.lock.release()
}

// Status is what status.json says now.
func (w *RingWriter) Status() Status {
	s := w.st
	s.Interfaces = append([]IfaceStatus(nil), w.ifStats...)
	for i := range s.Interfaces {
		c := w.counters[i]
		s.Interfaces[i].CountersAvailable = c.Available
		if c.Available {
			r, d := c.Received, c.Dropped
			s.Interfaces[i].KernelReceived, s.Interfaces[i].KernelDropped = &r, &d
		}
	}
	return s
}

// Files are the ring's files now, oldest first.
func (w *RingWriter) Files() []RingFile { return append([]RingFile(nil), w.files...) }

func (w *RingWriter) writeStatus(now time.Time, sync bool) error {
	s := w.Status()
	s.UpdatedAt = now.UTC()
	if mono, ok := boottimeNS(); ok {
		s.MonotonicNS = mono
	}
	if err := writeStatus(w.o.Dir, &s, sync); err != nil {
		return &DirError{Dir: w.o.Dir, Op: "writing status.json in", Err: err}
	}
	return nil
}

// syncDir makes created and deleted names durable.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

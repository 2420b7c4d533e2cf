package capture

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"time"
)

// RingOptions configure a RingWriter.
type RingOptions struct {
	// Dir is the ring directory: created 0700 when missing; an existing one
	// is used as it is (Warn says so when others can read it).
	Dir string
	// Prefix starts every file name. Default "ectool".
	Prefix string
	// Format is FormatPcapng (default) or FormatPcap (one link type only).
	Format string
	// FileSize is the most one file holds; Files the most files kept.
	FileSize int64
	Files    int
	// FileDuration rotates the first packet that comes this long after the
	// file opened (0: size only). An idle ring does not churn.
	FileDuration time.Duration
	// Flush: encoded packets reach the file (and status.json is rewritten)
	// at least this often. Fsync: the file is fsynced this often and at
	// every rotation.
	Flush, Fsync time.Duration
	// Interfaces are recorded in this order; WritePacket names one by index.
	Interfaces []IfaceSpec
	// Comment goes in each pcapng file's section header (FormatListeners).
	Comment string
	// Clock is the time source for names, flushes and fsyncs (time.Now).
	Clock func() time.Time
	// Sync makes a file durable (default (*os.File).Sync); tests count it.
	Sync func(*os.File) error
	// Warn receives the warnings a person should read (nil: dropped).
	Warn func(msg string)
}

// Defaults fills the zero fields with the documented defaults.
func (o *RingOptions) defaults() {
	if o.Prefix == "" {
		o.Prefix = "ectool"
	}
	if o.Format == "" {
		o.Format = FormatPcapng
	}
	if o.FileSize == 0 {
		o.FileSize = 8 << 20
	}
	if o.Files == 0 {
		o.Files = 16
	}
	if o.Flush == 0 {
		o.Flush = time.Second
	}
	if o.Fsync == 0 {
		o.Fsync = 30 * time.Second
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Sync == nil {
		o.Sync = (*os.File).Sync
	}
	if o.Warn == nil {
		o.Warn = func(string) {}
	}
	for i := range o.Interfaces {
		if o.Interfaces[i].Snaplen == 0 {
			o.Interfaces[i].Snaplen = DefaultSnaplen
		}
	}
}

// DefaultSnaplen is tcpdump's default snap length.
const DefaultSnaplen = 262144

// Validate checks the options without touching the disk.
func (o RingOptions) Validate() error {
	o.defaults()
	switch {
	case o.Dir == "":
		return &OptionError{"dir", "a ring directory is required"}
	case o.Format != FormatPcapng && o.Format != FormatPcap:
		return &OptionError{"pcap-format", fmt.Sprintf("%q: use pcapng or pcap", o.Format)}
	case o.Files < 2:
		return &OptionError{"files", fmt.Sprintf("%d: keep at least 2 files (one is being written)", o.Files)}
	case o.Flush < 0 || o.Fsync < 0 || o.FileDuration < 0:
		return &OptionError{"flush", "durations must not be negative"}
	case len(o.Interfaces) == 0:
		return &OptionError{"iface", "at least one interface"}
	case !validPrefix.MatchString(o.Prefix):
		return &OptionError{"prefix", fmt.Sprintf("%q: letters, digits, '-' and '.' only", o.Prefix)}
	}
	if o.Format == FormatPcap {
		for _, in := range o.Interfaces[1:] {
			if in.LinkType != o.Interfaces[0].LinkType {
				return &OptionError{"pcap-format", fmt.Sprintf("pcap holds one link type, but %s is %s and %s is %s: use pcapng",
					o.Interfaces[0].Name, o.Interfaces[0].LinkType, in.Name, in.LinkType)}
			}
		}
	}
	need := fileOverhead(o) + (&ngEncoder{}).recordSize(int(maxSnaplen(o.Interfaces)))
	if o.FileSize < need {
		return &OptionError{"file-size", fmt.Sprintf("%d bytes cannot hold one packet of --snaplen %d and the file's headers (%d bytes): raise --file-size or lower --snaplen",
			o.FileSize, maxSnaplen(o.Interfaces), need)}
	}
	return nil
}

var validPrefix = regexp.MustCompile(`^[A-Za-z0-9.-]+$`)

func maxSnaplen(ifaces []IfaceSpec) uint32 {
	var m uint32
	for _, in := range ifaces {
		m = max(m, in.Snaplen)
	}
	return m
}

// fileOverhead bounds a file's non-packet bytes: headers and two rounds of
// statistics blocks (at open and at close).
func fileOverhead(o RingOptions) int64 {
	n := int64(1024 + len(o.Comment))
	for _, in := range o.Interfaces {
		n += 256 + int64(len(in.Name)+len(in.Filter)) + 2*(&ngEncoder{}).statsSize()
	}
	return n
}

// Bound is the most bytes the ring's files hold together: Files × FileSize
// plus one snap length.
func (o RingOptions) Bound() int64 {
	o.defaults()
	return int64(o.Files)*o.FileSize + int64(maxSnaplen(o.Interfaces))
}

// RingFile is a file of a ring directory, named <prefix>_<seq>_<time>.<ext>.
type RingFile struct {
	Path   string
	Name   string
	Prefix string
	Seq    uint64
	// Opened is the UTC time in the name (when the writer opened it).
	Opened time.Time
	Size   int64
}

var ringName = regexp.MustCompile(`^([A-Za-z0-9.-]+)_([0-9]+)_([0-9]{8}T[0-9]{6}Z)\.(pcapng|pcap)$`)

// ListRing lists the ring files in dir, ordered by sequence (never by
// time). prefix "" lists every prefix.
func ListRing(dir, prefix string) ([]RingFile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []RingFile
	for _, e := range ents {
		m := ringName.FindStringSubmatch(e.Name())
		if m == nil || e.IsDir() || (prefix != "" && m[1] != prefix) {
			continue
		}
		seq, err := strconv.ParseUint(m[2], 10, 64)
		if err != nil {
			continue
		}
		opened, _ := time.Parse("20060102T150405Z", m[3])
		f := RingFile{Path: filepath.Join(dir, e.Name()), Name: e.Name(), Prefix: m[1], Seq: seq, Opened: opened}
		if fi, err := e.Info(); err == nil {
			f.Size = fi.Size()
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Seq != out[j].Seq {
			return out[i].Seq < out[j].Seq
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// ensureDir creates dir 0700 when missing, and warns when an existing one
// is readable by others (captures hold credentials sent in clear).
func ensureDir(dir string, warn func(string)) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return &DirError{Dir: dir, Op: "creating", Err: err}
		}
		return nil
	}
	if err != nil {
		return &DirError{Dir: dir, Op: "reading", Err: err}
	}
	if !fi.IsDir() {
		return &DirError{Dir: dir, Op: "using", Err: errors.New("not a directory")}
	}
	if fi.Mode().Perm()&0o044 != 0 {
		warn(fmt.Sprintf("%s is readable by other users (mode %04o): captures may hold passwords sent in clear; chmod 700 it", dir, fi.Mode().Perm()))
	}
	return nil
}

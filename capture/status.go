package capture

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// StatusSchema is the "schema" of status.json.
const StatusSchema = "ectool.capture.status/v1"

// StatusFile is the name of the status file in a ring directory.
const StatusFile = "status.json"

// Status is what a live writer says about itself in DIR/status.json,
// rewritten atomically (write, rename) at each flush. Freshness is judged
// against the writer's own Flush and, on the same boot (BootID), on the
// boot-time clock (MonotonicNS), so a wall-clock step never makes a live
// ring look stale.
type Status struct {
	Schema      string    `json:"schema"`
	PID         int       `json:"pid"`
	Running     bool      `json:"running"`
	BootID      string    `json:"boot_id,omitempty"`
	MonotonicNS int64     `json:"monotonic_ns,omitempty"`
	StartedAt   time.Time `json:"started_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	FlushMS     int64     `json:"flush_ms"`
	FsyncMS     int64     `json:"fsync_ms"`
	Format      string    `json:"format"`
	Prefix      string    `json:"prefix"`
	FileSize    int64     `json:"file_size"`
	Files       int       `json:"files"`
	Snaplen     uint32    `json:"snaplen"`
	// BoundBytes is Files × FileSize + Snaplen: the most the ring's files
	// may hold together.
	BoundBytes  int64  `json:"bound_bytes"`
	CurrentFile string `json:"current_file,omitempty"`
	Packets     uint64 `json:"packets"`
	Bytes       uint64 `json:"bytes"`
	// DiskDrops are packets lost because the disk was full and no older
	// file was left to delete.
	DiskDrops  uint64        `json:"disk_drops"`
	Interfaces []IfaceStatus `json:"interfaces"`
}

// IfaceStatus is one interface's share of a Status.
type IfaceStatus struct {
	Name     string `json:"name"`
	LinkType string `json:"link_type"`
	Packets  uint64 `json:"packets"`
	Bytes    uint64 `json:"bytes"`
	// KernelReceived and KernelDropped count since the capture started;
	// nil when the kernel would not say (CountersAvailable false).
	KernelReceived    *uint64 `json:"kernel_received"`
	KernelDropped     *uint64 `json:"kernel_dropped"`
	CountersAvailable bool    `json:"counters_available"`
}

// Flush is the writer's flush interval.
func (s *Status) Flush() time.Duration { return time.Duration(s.FlushMS) * time.Millisecond }

// ReadStatus reads DIR/status.json.
func ReadStatus(dir string) (*Status, error) {
	b, err := os.ReadFile(filepath.Join(dir, StatusFile))
	if err != nil {
		return nil, err
	}
	var s Status
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, StatusFile), err)
	}
	if s.Schema != StatusSchema {
		return nil, fmt.Errorf("%s: schema %q, want %q", filepath.Join(dir, StatusFile), s.Schema, StatusSchema)
	}
	return &s, nil
}

// writeStatus replaces DIR/status.json atomically; sync also fsyncs the
// new file before the rename.
func writeStatus(dir string, s *Status, sync bool) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, "."+StatusFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, StatusFile))
}

// Freshness says how old a status is, on the clock that can tell: the
// boot-time clock when the writer ran on this boot, else the wall clock.
// sameBoot is false when the writer ran on another boot (its ring cannot be
// live).
func (s *Status) Freshness(now time.Time) (age time.Duration, clock string, sameBoot bool) {
	id := BootID()
	if id != "" && s.BootID != "" {
		if id != s.BootID {
			return now.Sub(s.UpdatedAt), "wall", false
		}
		if mono, ok := boottimeNS(); ok && s.MonotonicNS > 0 {
			return time.Duration(mono - s.MonotonicNS), "boottime", true
		}
	}
	return now.Sub(s.UpdatedAt), "wall", true
}

// errNoStatus wraps a missing status file.
var errNoStatus = errors.New("no status.json")

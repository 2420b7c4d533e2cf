//go:build !linux

package serialport

// FindHolders is only implemented on Linux (/proc and UUCP lock files);
// elsewhere it finds nothing and the operating system's own exclusive open
// is the only guard.
func FindHolders(path string) ([]Holder, error) { return nil, nil }

// SetLowLatency is only implemented on Linux (sysfs).
func SetLowLatency(path string) LatencyTimer { return LatencyTimer{} }

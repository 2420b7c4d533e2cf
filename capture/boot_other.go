//go:build !linux

package capture

// BootID is unknown outside Linux: freshness falls back to the wall clock.
func BootID() string { return "" }

func boottimeNS() (int64, bool) { return 0, false }

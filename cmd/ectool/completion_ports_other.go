//go:build !windows

package main

// osSerialPorts is nil where serial devices are found by name under /dev
// (serialDevices).
func osSerialPorts() []string { return nil }

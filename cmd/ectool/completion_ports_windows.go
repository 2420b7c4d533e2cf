//go:build windows

package main

import "go.bug.st/serial"

// osSerialPorts lists the COM ports (from the registry: no port is opened).
func osSerialPorts() []string {
	ports, err := serial.GetPortsList()
	if err != nil || ports == nil {
		return []string{}
	}
	return ports
}

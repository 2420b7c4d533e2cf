// Command ectool is the field toolkit for IoT energy-monitoring sites: Modbus
// buses, gateways, modems and MQTT telemetry.
//
// Each command group lives in its own file (mqtt.go, lab.go, ...): flags are
// parsed into an Options struct by a NewCmdX constructor, and a run function
// calls a package under probe/, capture/ or diag/ and renders what it
// returns (render.go). Nothing but main calls os.Exit.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], DefaultStreams())
	stop()
	os.Exit(code)
}

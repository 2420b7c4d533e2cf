package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ecdata/ectool/diag/exitcode"
	"github.com/ecdata/ectool/probe/mqtt"
)

// NewCmdMQTT is the `ectool mqtt` group. Its commands live in mqtt_pub.go,
// mqtt_sub.go, mqtt_clear.go and mqtt_check.go; their engines in
// probe/mqtt (Publish, Subscribe, ClearRetained, Check).
func NewCmdMQTT(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mqtt",
		Short: "Publish, subscribe and check test topics against an MQTT broker",
		Long: `Publish and subscribe to test topics and check a broker the way a gateway uses it.

The broker is -b/--broker URL (or ECTOOL_MQTT_BROKER): mqtt://host (1883),
mqtts://host (8883), ws://host/mqtt (80), wss://host/mqtt (443). pub, sub
and clear-retained speak MQTT 5 unless --mqtt-version 3.1.1 or auto; check
defaults to auto: MQTT 5, and 3.1.1 when the broker refuses 5 (a 3.1.1
CONNACK "unacceptable protocol version", or a close right after CONNECT),
both attempts within --timeout and saying which version the broker speaks.
A refused password, an ACL or a TLS failure is never retried as 3.1.1.
Reaching the broker runs DNS, TCP, TLS and CONNECT in turn, each within
--timeout, and a failure names its step in words (exit 1).`,
	}
	cmd.AddCommand(NewCmdMQTTPub(app), NewCmdMQTTSub(app), NewCmdMQTTClearRetained(app), NewCmdMQTTCheck(app))
	return cmd
}

// mqttFailure words the error that ended an mqtt command. While reaching
// the broker the failed step comes first ("mqtt.tcp failed: connection
// refused ..."; def names it when the error does not); after that the
// engine's words stand alone. An interrupt is said as such.
func mqttFailure(err error, reaching bool, def mqtt.Step) *ExitError {
	if errors.Is(err, context.Canceled) && mqtt.StepOf(err) == "" {
		return &ExitError{Code: ExitProblem, Message: "interrupted before the end", Err: err}
	}
	msg, hint := mqtt.Explain(err)
	if reaching {
		msg = fmt.Sprintf("%s failed: %s", stepName(err, def), msg)
	}
	return exitAs(err, exitcode.KindProblem, msg, hint)
}

// stepName is "mqtt.<step>" for an error, or for def when it names none.
func stepName(err error, def mqtt.Step) string {
	if s := mqtt.StepOf(err); s != "" {
		return "mqtt." + string(s)
	}
	return "mqtt." + string(def)
}

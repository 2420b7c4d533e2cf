package main

import "github.com/spf13/cobra"

// NewCmdProbe is the `ectool probe` group: prove the data path layer by
// layer. `probe modem` lives in probe_modem.go, `probe net` in
// probe_net.go.
func NewCmdProbe(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "probe",
		Short: "Prove the data path layer by layer, and name the first layer that breaks",
		Long: `The commonest trap in the field: good signal and "connected", but no data path.
The probe commands check every layer in order and name the first that breaks.

  probe modem   the cellular modem: AT port, SIM, signal, registration,
                operator, and whether a data context (APN) has an IP address
  probe net     the network path to a broker or server: interface, DNS, ICMP,
                TCP, path MTU, TLS and MQTT, through the interface that matters`,
	}
	cmd.AddCommand(NewCmdProbeModem(app), NewCmdProbeNet(app))
	return cmd
}

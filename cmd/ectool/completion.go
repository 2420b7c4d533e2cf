package main

import (
	"net"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ecdata/ectool/lab/bus"
	labmodem "github.com/ecdata/ectool/lab/modem"
	"github.com/ecdata/ectool/probe/modbus"
)

// Shell completion beyond cobra's command and flag names: a TARGET offers
// the serial devices present and the URL schemes a bus target takes, and
// every flag with a fixed set of values offers those values and never
// file names. One pass over the tree (addCompletions) so a new command
// with --parity or a TARGET gets them without a line of its own.

// targetSchemes are the URL schemes of a bus TARGET (modbus.ParseTarget).
var targetSchemes = []string{"rtu://", "tcp://", "rtuovertcp://"}

// fixedValues are the values of flags that take one of a known set, by
// flag name, wherever the flag is. Lists that cost something to build (the
// meter profiles) are built only when a shell asks.
var fixedValues = map[string]func() []string{
	"parity":         words("N", "E", "O"),
	"stop-bits":      words("1", "2"),
	"data-bits":      words("8", "7"),
	"baud":           words("9600", "19200", "38400", "57600", "115200", "4800", "2400", "1200"),
	"probe":          words("fc03", "fc04", "fc01", "fc02", "fc11"),
	"table":          words("holding", "input", "coil", "discrete"),
	"type":           words("u16", "s16", "u32", "s32", "u64", "s64", "f32", "f64", "string", "bits"),
	"order":          words("auto", "ABCD", "CDAB", "BADC", "DCBA"),
	"fc":             words("06", "16", "05", "15"),
	"modem-quirks":   words("echo", "urc", "slow"),
	"pcap-format":    words("pcapng", "pcap"),
	"tls-min":        words("1.2", "1.3"),
	"qos":            words("0", "1", "2"),
	"will-qos":       words("0", "1", "2"),
	"modem-dialect":  func() []string { return labmodem.Dialects },
	"meter":          meterNames,
	"bus-scenario":   busScenarioNames,
	"modem-scenario": modemScenarioNames,
}

func words(w ...string) func() []string { return func() []string { return w } }

func meterNames() []string {
	var out []string
	ps, _ := modbus.Profiles()
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

func busScenarioNames() []string {
	var out []string
	for _, s := range bus.Scenarios() {
		out = append(out, s.Name)
	}
	return out
}

func modemScenarioNames() []string {
	var out []string
	for _, s := range labmodem.Scenarios() {
		out = append(out, s.Name)
	}
	return out
}

// addCompletions registers completions on every command of root's tree.
func addCompletions(root *cobra.Command) {
	_ = root.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp
	})
	walk(root, func(c *cobra.Command) {
		// One bus TARGET (probe net's [TARGET...] are hosts and URLs).
		if f := strings.Fields(c.Use); c.ValidArgsFunction == nil && len(f) > 1 && f[1] == "TARGET" {
			c.ValidArgsFunction = completeTarget
		}
		for name, values := range fixedValues {
			if c.Flags().Lookup(name) == nil {
				continue
			}
			// A command that registered its own (mqtt's --mqtt-version)
			// keeps it: cobra refuses a second registration.
			_ = c.RegisterFlagCompletionFunc(name, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
				return values(), cobra.ShellCompDirectiveNoFileComp
			})
		}
		if c.Flags().Lookup("iface") != nil {
			_ = c.RegisterFlagCompletionFunc("iface", completeIface)
		}
		if c.Flags().Lookup("broker") != nil {
			_ = c.RegisterFlagCompletionFunc("broker", completeBroker)
		}
		if f := c.Flags().Lookup("port"); f != nil && f.Value.Type() == "string" {
			_ = c.RegisterFlagCompletionFunc("port", func(_ *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
				return targetCompletions(prefix, []string{"tcp://"})
			})
		}
	})
}

func walk(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		walk(sub, fn)
	}
}

// completeTarget completes a command's one TARGET.
func completeTarget(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	out, dir := targetCompletions(prefix, targetSchemes)
	for _, sub := range cmd.Commands() {
		if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), prefix) {
			// cobra offers 'sniff' beside the schemes: a space after it.
			dir &^= cobra.ShellCompDirectiveNoSpace
		}
	}
	return out, dir
}

// targetCompletions offers the serial devices present (rtu:// + device
// after "rtu://") and schemes. A path that names no serial device (a
// simulator's pseudo-terminal) falls back to the shell's file names.
func targetCompletions(prefix string, schemes []string) ([]string, cobra.ShellCompDirective) {
	devs := serialDevices()
	var out []string
	add := func(s string) {
		if strings.HasPrefix(strings.ToLower(s), strings.ToLower(prefix)) {
			out = append(out, s)
		}
	}
	for _, d := range devs {
		add(d)
		if strings.HasPrefix(prefix, "rtu://") {
			add("rtu://" + d)
		}
	}
	for _, s := range schemes {
		add(s)
	}
	if len(out) == 0 && (strings.HasPrefix(prefix, "/") || strings.HasPrefix(prefix, ".")) {
		return nil, cobra.ShellCompDirectiveDefault
	}
	dir := cobra.ShellCompDirectiveNoFileComp
	allSchemes := len(out) > 0
	for _, o := range out {
		allSchemes = allSchemes && strings.HasSuffix(o, "://")
	}
	if allSchemes {
		// The host or device follows the scheme: no space after it.
		dir |= cobra.ShellCompDirectiveNoSpace
	}
	return out, dir
}

// serialDevices lists the serial devices a technician plugs in: stable
// /dev/serial/by-id names first, then USB adapters (ttyUSB, ttyACM),
// the Raspberry Pi's UART (ttyAMA) and macOS's cu.* devices; COM ports on
// Windows. Nothing is opened: listing must not touch a port another
// process uses (go.bug.st/serial's list opens every ttyS to test it).
func serialDevices() []string {
	if ports := osSerialPorts(); ports != nil {
		return ports
	}
	var out []string
	for _, pattern := range []string{"/dev/serial/by-id/*", "/dev/ttyUSB*", "/dev/ttyACM*", "/dev/ttyAMA*", "/dev/cu.*"} {
		m, _ := filepath.Glob(pattern)
		sort.Strings(m)
		out = append(out, m...)
	}
	return out
}

// brokerSchemes are the URL schemes of -b/--broker (mqtt.ParseBroker).
var brokerSchemes = []string{"mqtt://", "mqtts://", "ws://", "wss://"}

// completeBroker offers the broker URL's schemes; the host follows.
func completeBroker(_ *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
	if strings.Contains(prefix, "://") {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, s := range brokerSchemes {
		if strings.HasPrefix(s, strings.ToLower(prefix)) {
			out = append(out, s)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}

// completeIface offers the network interfaces (and any, where capture
// takes it).
func completeIface(c *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	var out []string
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		out = append(out, i.Name)
	}
	if c.Name() == "capture" {
		out = append(out, "any")
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

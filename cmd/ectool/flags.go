package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Flag groups that several commands share. Each group has one constructor
// that adds it to a command's own flags (never persistent) through
// addGroup, which marks every flag with its group: TestFlagsMeanOneThing
// walks the tree and holds every flag of a group's name to one type, help
// text and default, so a flag means the same thing everywhere and a new
// group is checked without being listed anywhere.

// Flag annotations (pflag.Flag.Annotations) read by TestFlagsMeanOneThing.
const (
	// flagGroup names the group whose constructor added the flag.
	flagGroup = "ectool_flag_group"
	// perCommandDefault: each command chooses the default (a modem's
	// --baud is 115200, a bus's 9600); type and meaning stay one.
	perCommandDefault = "ectool_default_per_command"
	// perCommandUsage: each command says what the flag bounds in its own
	// help (--timeout: per step for checks, the whole wait for sub, per
	// request for scan); the type stays one.
	perCommandUsage = "ectool_usage_per_command"
)

// addGroup adds the flags add defines to cmd, each marked as group's (and
// with the per-command annotations given).
func addGroup(cmd *cobra.Command, group string, add func(fs *pflag.FlagSet), perCommand ...string) {
	fs := pflag.NewFlagSet(group, pflag.ContinueOnError)
	add(fs)
	fs.VisitAll(func(f *pflag.Flag) {
		_ = fs.SetAnnotation(f.Name, flagGroup, []string{group})
		for _, a := range perCommand {
			_ = fs.SetAnnotation(f.Name, a, []string{"true"})
		}
		cmd.Flags().AddFlag(f)
	})
}

// brokerFlags: where the broker is and how to talk to it.
type brokerFlags struct {
	Broker    string
	Version   string
	ClientID  string
	KeepAlive time.Duration
}

// addBrokerFlags adds -b/--broker (env ECTOOL_MQTT_BROKER), --mqtt-version,
// --client-id and --keepalive.
func addBrokerFlags(cmd *cobra.Command, f *brokerFlags) {
	addGroup(cmd, "broker", func(fs *pflag.FlagSet) {
		fs.StringVarP(&f.Broker, "broker", "b", "", "broker URL: mqtt://host:1883, mqtts://host:8883, ws://host/mqtt, wss://host/mqtt (env ECTOOL_MQTT_BROKER)")
		fs.StringVar(&f.Version, "mqtt-version", "5", "MQTT protocol version: 5, 3.1.1 or auto (5, and 3.1.1 when the broker refuses 5)")
		fs.StringVar(&f.ClientID, "client-id", "", "client identifier (default: a random ectool-... id)")
		fs.DurationVar(&f.KeepAlive, "keepalive", 30*time.Second, "keep-alive interval sent to the broker")
	})
	// mqtt check finds the version by itself (auto); pub and sub keep 5.
	_ = cmd.Flags().SetAnnotation("mqtt-version", perCommandDefault, []string{"true"})
}

// tlsFlags: how to trust the broker and prove who we are.
type tlsFlags struct {
	CA         string
	Cert       string
	Key        string
	Insecure   bool
	ServerName string
	ALPN       []string
	MinVersion string
}

// addTLSFlags adds --ca, --cert, --key, --insecure, --servername, --alpn, --tls-min.
func addTLSFlags(cmd *cobra.Command, f *tlsFlags) {
	addGroup(cmd, "tls", func(fs *pflag.FlagSet) {
		fs.StringVar(&f.CA, "ca", "", "PEM file of CA certificates to trust (default: system roots)")
		fs.StringVar(&f.Cert, "cert", "", "client certificate (PEM) for mutual TLS")
		fs.StringVar(&f.Key, "key", "", "client private key (PEM) matching --cert")
		fs.BoolVar(&f.Insecure, "insecure", false, "do not verify the broker's certificate (testing only)")
		fs.StringVar(&f.ServerName, "servername", "", "TLS server name (SNI) to send and verify (default: the broker host)")
		fs.StringSliceVar(&f.ALPN, "alpn", nil, "ALPN protocol(s) to offer, comma separated")
		fs.StringVar(&f.MinVersion, "tls-min", "1.2", "minimum TLS version: 1.2 or 1.3")
	})
}

// credentialFlags: who we log in as.
type credentialFlags struct {
	Username     string
	PasswordFile string
	Password     string
}

// addCredentialFlags adds -u/--username, --password-file and --password (the
// password may also come from ECTOOL_MQTT_PASSWORD).
func addCredentialFlags(cmd *cobra.Command, f *credentialFlags) {
	addGroup(cmd, "credentials", func(fs *pflag.FlagSet) {
		fs.StringVarP(&f.Username, "username", "u", "", "user name for the broker")
		fs.StringVar(&f.PasswordFile, "password-file", "", "file holding the password (or set ECTOOL_MQTT_PASSWORD)")
		fs.StringVar(&f.Password, "password", "", "password on the command line (visible to other users: prefer --password-file)")
	})
}

// willFlags: the Last Will registered at CONNECT.
type willFlags struct {
	Topic   string
	Message string
	QoS     int
	Retain  bool
}

// addWillFlags adds --will-topic, --will-message, --will-qos and --will-retain.
func addWillFlags(cmd *cobra.Command, f *willFlags) {
	addGroup(cmd, "will", func(fs *pflag.FlagSet) {
		fs.StringVar(&f.Topic, "will-topic", "", "Last Will topic")
		fs.StringVar(&f.Message, "will-message", "", "Last Will payload")
		fs.IntVar(&f.QoS, "will-qos", 0, "Last Will QoS: 0, 1 or 2")
		fs.BoolVar(&f.Retain, "will-retain", false, "retain the Last Will")
	})
}

// addTimeoutFlag adds --timeout, one type for every command, with the
// command's own meaning and default (its help says what it bounds).
func addTimeoutFlag(cmd *cobra.Command, d *time.Duration, def time.Duration, meaning string) {
	addTimeout(cmd, timeoutValue{d: d}, def, meaning)
}

// addAutoTimeoutFlag adds --timeout to a command that can find its own
// wait: the same type, which also takes "auto" (setting *auto).
func addAutoTimeoutFlag(cmd *cobra.Command, d *time.Duration, auto *bool, def time.Duration, meaning string) {
	addTimeout(cmd, timeoutValue{d: d, auto: auto}, def, meaning)
}

func addTimeout(cmd *cobra.Command, v timeoutValue, def time.Duration, meaning string) {
	*v.d = def
	addGroup(cmd, "timeout", func(fs *pflag.FlagSet) {
		fs.Var(v, "timeout", meaning)
		if def == 0 {
			// pflag leaves a zero default out of the help only when it
			// reads "0"; the command's words say what 0 means.
			fs.Lookup("timeout").DefValue = "0"
		}
	}, perCommandUsage, perCommandDefault)
}

// timeoutValue is the type of every --timeout: a duration, or "auto" on a
// command that can find its own wait (auto set; scan, which hears every
// byte on the line). Elsewhere "auto" is a worded usage error.
type timeoutValue struct {
	d    *time.Duration
	auto *bool
}

func (t timeoutValue) String() string {
	if t.auto != nil && *t.auto {
		return "auto"
	}
	if t.d == nil {
		return "0s"
	}
	return t.d.String()
}

func (t timeoutValue) Set(v string) error {
	v = strings.TrimSpace(v)
	if strings.EqualFold(v, "auto") {
		if t.auto == nil {
			return fmt.Errorf("this command has no automatic timeout (scan has: it hears every byte on the line); give a duration such as 500ms, 5s or 2m")
		}
		*t.auto = true
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		if t.auto != nil {
			return fmt.Errorf("give a duration such as 500ms, 5s or 2m, or auto")
		}
		return fmt.Errorf("give a duration such as 500ms, 5s or 2m")
	}
	*t.d = d
	if t.auto != nil {
		*t.auto = false
	}
	return nil
}

func (t timeoutValue) Type() string { return "duration" }

// addListenFlag adds --listen, listen-before-talk on a bus, with the
// command's own default.
func addListenFlag(cmd *cobra.Command, d *time.Duration, def time.Duration, example string) {
	*d = def
	addGroup(cmd, "listen", func(fs *pflag.FlagSet) {
		fs.Var(wordedDuration{d, example}, "listen", "listen this long before the first request (0: do not)")
	}, perCommandDefault)
}

// addWriteFlag adds -w/--write FILE (tcpdump's convention), with the
// command's own words for what it writes.
func addWriteFlag(cmd *cobra.Command, path *string, meaning string) {
	addGroup(cmd, "write", func(fs *pflag.FlagSet) {
		fs.StringVarP(path, "write", "w", "", meaning)
	}, perCommandUsage)
}

// addPinFlag adds --pin (repeatable): SPKI pins the server's chain must
// hold one of (probe net, mqtt check).
func addPinFlag(cmd *cobra.Command, pins *[]string) {
	addGroup(cmd, "pin", func(fs *pflag.FlagSet) {
		fs.StringArrayVar(pins, "pin", nil, "sha256//BASE64 SPKI pin (curl's --pinnedpubkey form): fail TLS unless a certificate of the chain has it (repeat for several; the evidence lists the chain's pins)")
	})
}

// byteSize is a size flag taking KiB, MiB and GiB (powers of 1024), KB, MB
// and GB (powers of 1000) or a bare number of bytes.
type byteSize struct{ p *int64 }

func (b byteSize) String() string {
	if b.p == nil {
		return "0"
	}
	return formatSize(*b.p)
}

func (b byteSize) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*b.p = n
	return nil
}

func (b byteSize) Type() string { return "size" }

var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"B", 1}}

func parseSize(v string) (int64, error) {
	s := strings.TrimSpace(v)
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<50)/mult {
		return 0, fmt.Errorf("want a size such as 8MiB, 512KiB or 1GiB")
	}
	return n * mult, nil
}

// formatSize writes n with the largest binary unit that divides it.
func formatSize(n int64) string {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.mult && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

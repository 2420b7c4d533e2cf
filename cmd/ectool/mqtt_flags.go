package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ecdata/ectool/probe/mqtt"
)

// mqttConnFlags are the flags the `mqtt` commands share to reach and log
// in to a broker: the broker, TLS and credential groups of flags.go (every
// mqtt command), and the Will group and --clean-start (the commands that
// hold a session: pub, sub, clear-retained). The command's --timeout is its
// own (its meaning differs per command) and goes into
// Options.ConnectTimeout by the caller.
type mqttConnFlags struct {
	broker     brokerFlags
	tls        tlsFlags
	cred       credentialFlags
	will       willFlags
	cleanStart bool

	cmd *cobra.Command // to tell a flag given empty from one not given
}

// addMQTTLoginFlags adds the broker, TLS and credential groups to cmd.
func addMQTTLoginFlags(cmd *cobra.Command, f *mqttConnFlags) {
	f.cmd = cmd
	addBrokerFlags(cmd, &f.broker)
	addTLSFlags(cmd, &f.tls)
	addCredentialFlags(cmd, &f.cred)
	completeValues(cmd, "mqtt-version", "5", "3.1.1", "auto")
	completeValues(cmd, "tls-min", "1.2", "1.3")
}

// addMQTTConnFlags adds the login groups, the Will group and the session
// group (--clean-start) to cmd.
func addMQTTConnFlags(cmd *cobra.Command, f *mqttConnFlags) {
	addMQTTLoginFlags(cmd, f)
	addWillFlags(cmd, &f.will)
	addGroup(cmd, "session", func(fs *pflag.FlagSet) {
		fs.BoolVar(&f.cleanStart, "clean-start", true, "start a new session (MQTT 5 clean start, 3.1.1 clean session); --clean-start=false resumes the session stored for --client-id")
	})
	completeValues(cmd, "will-qos", "0", "1", "2")
}

// defaultMQTTVersion makes v the default of cmd's --mqtt-version.
func defaultMQTTVersion(cmd *cobra.Command, f *mqttConnFlags, v string) {
	f.broker.Version = v
	cmd.Flags().Lookup("mqtt-version").DefValue = v
}

// noteVersion says which version the broker took: on stderr with -v, and
// always when --mqtt-version auto fell back to 3.1.1 (a broker that speaks
// only 3.1.1 is worth knowing about, and MQTT 5 features are off then).
func noteVersion(app *App, broker string, ca mqtt.ConnAck) {
	if ca.FallbackReason != "" {
		app.Infof("note: %s: speaking MQTT %s", ca.FallbackReason, ca.Version)
		return
	}
	app.Debugf("connected to %s (MQTT %s)", broker, ca.Version)
}

// completeValues makes shell completion offer a flag's values.
func completeValues(cmd *cobra.Command, flag string, values ...string) {
	if cmd.Flags().Lookup(flag) == nil {
		return
	}
	_ = cmd.RegisterFlagCompletionFunc(flag, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	})
}

func (f *mqttConnFlags) changed(name string) bool {
	return f.cmd != nil && f.cmd.Flags().Changed(name)
}

// options turns the flags (and ECTOOL_MQTT_BROKER / ECTOOL_MQTT_PASSWORD)
// into mqtt.Options. Every problem is a usage error (exit 2) in one line
// naming the flag, found before any network I/O: a missing or bad broker
// URL, an unknown --mqtt-version, unreadable or mismatched TLS files, a bad
// --tls-min, an unreadable --password-file, a bad Will, an empty client id on
// 3.1.1 without a clean session. A plain --password works but warns.
func (f *mqttConnFlags) options(app *App) (mqtt.Options, error) {
	var o mqtt.Options
	raw := f.broker.Broker
	from := "-b/--broker"
	if raw == "" && !f.changed("broker") {
		raw = app.Getenv("ECTOOL_MQTT_BROKER")
		from = "ECTOOL_MQTT_BROKER"
	}
	if strings.TrimSpace(raw) == "" {
		return o, usageError("-b/--broker is required (or set ECTOOL_MQTT_BROKER), e.g. -b mqtts://broker.example.com:8883")
	}
	b, err := mqtt.ParseBroker(raw)
	if err != nil {
		return o, usageError("%s: %v", from, err)
	}
	return f.optionsFor(app, b)
}

// optionsFor is options for broker b, given by the caller (probe net
// --mqtt takes its brokers from its targets).
func (f *mqttConnFlags) optionsFor(app *App, b mqtt.Broker) (mqtt.Options, error) {
	var o mqtt.Options
	o.Broker = b.String()

	switch strings.TrimSpace(f.broker.Version) {
	case "5", "5.0", "v5":
		o.Version = mqtt.V5
	case "3.1.1", "311", "4", "v3.1.1":
		o.Version = mqtt.V311
	case "auto":
		o.Version = mqtt.VAuto
	default:
		return o, usageError("--mqtt-version %q: want 5, 3.1.1 or auto", f.broker.Version)
	}

	// Commands without --clean-start always start clean.
	o.CleanStart = true
	if f.cmd != nil && f.cmd.Flags().Lookup("clean-start") != nil {
		o.CleanStart = f.cleanStart
	}
	o.ClientID = f.broker.ClientID
	if f.changed("client-id") && o.ClientID == "" {
		// An explicitly empty id asks the broker to assign one.
		if o.Version == mqtt.V311 && !o.CleanStart {
			return o, usageError("--client-id is empty: MQTT 3.1.1 needs a client id to resume a session (--clean-start=false); give one or drop --clean-start=false")
		}
		o.EmptyClientID = true
	}
	if len(o.ClientID) > 65535 {
		return o, usageError("--client-id is longer than 65535 bytes")
	}
	if f.broker.KeepAlive < 0 || f.broker.KeepAlive.Seconds() > 65535 {
		return o, usageError("--keepalive %s: want 0 to 65535s", f.broker.KeepAlive)
	}
	o.KeepAlive = f.broker.KeepAlive
	if o.KeepAlive == 0 && f.changed("keepalive") {
		o.NoKeepAlive = true
	}

	if err := f.tlsOptions(app, b, &o); err != nil {
		return o, err
	}
	if err := f.credentials(app, &o); err != nil {
		return o, err
	}
	if err := f.willOptions(&o); err != nil {
		return o, err
	}
	return o, nil
}

func (f *mqttConnFlags) tlsOptions(app *App, b mqtt.Broker, o *mqtt.Options) error {
	t := mqtt.TLSOptions{
		CAFile: f.tls.CA, CertFile: f.tls.Cert, KeyFile: f.tls.Key,
		Insecure: f.tls.Insecure, ServerName: f.tls.ServerName, ALPN: f.tls.ALPN,
	}
	switch f.tls.MinVersion {
	case "1.2", "":
		t.MinVersion = tls.VersionTLS12
	case "1.3":
		t.MinVersion = tls.VersionTLS13
	default:
		return usageError("--tls-min %q: want 1.2 or 1.3", f.tls.MinVersion)
	}
	// Check the files even for a plain broker: a typo is still a typo.
	conf, err := t.Config(b.Host)
	if err != nil {
		var fe *mqtt.TLSFileError
		if errors.As(err, &fe) {
			if fe.Path == "" {
				return usageError("--%s is %s", fe.Field, fe.Problem)
			}
			if errors.Is(fe.Err, os.ErrPermission) {
				return inputFileError("--"+fe.Field, fe.Path, fe.Err)
			}
			return usageError("--%s %s: %s", fe.Field, fe.Path, fe.Problem)
		}
		return usageError("TLS settings: %v", err)
	}
	if conf != nil && len(conf.Certificates) > 0 {
		if leaf, err := x509.ParseCertificate(conf.Certificates[0].Certificate[0]); err == nil {
			now := time.Now()
			if app.Now != nil {
				now = app.Now()
			}
			switch {
			case now.After(leaf.NotAfter):
				app.Warnf("--cert %s expired on %s: a broker that checks client certificates will refuse it; renew it", t.CertFile, leaf.NotAfter.UTC().Format(time.RFC3339))
			case now.Before(leaf.NotBefore):
				app.Warnf("--cert %s is not valid before %s (this machine's clock says %s)", t.CertFile, leaf.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
			}
		}
	}
	if !b.TLS() && (t.CAFile != "" || t.CertFile != "" || t.Insecure || t.ServerName != "" || len(t.ALPN) > 0) {
		app.Warnf("TLS flags are ignored: %s is not a TLS URL (use mqtts:// or wss://)", b.String())
	}
	o.TLS = t
	return nil
}

func (f *mqttConnFlags) credentials(app *App, o *mqtt.Options) error {
	o.Username = f.cred.Username
	switch {
	case f.cred.PasswordFile != "":
		if f.changed("password") {
			return usageError("--password and --password-file both given: use one")
		}
		b, err := os.ReadFile(f.cred.PasswordFile)
		if err != nil {
			return inputFileError("--password-file", f.cred.PasswordFile, err)
		}
		if strings.TrimRight(string(b), "\r\n") == "" {
			return usageError("--password-file %s is empty: write the password in it (one line)", f.cred.PasswordFile)
		}
		o.Password, o.HasPassword = strings.TrimRight(string(b), "\r\n"), true
	case f.changed("password"):
		app.Warnf("--password is visible to other users of this machine (ps, shell history): prefer --password-file or ECTOOL_MQTT_PASSWORD")
		o.Password, o.HasPassword = f.cred.Password, true
	default:
		if p, ok := lookupEnv(app, "ECTOOL_MQTT_PASSWORD"); ok {
			o.Password, o.HasPassword = p, true
		}
	}
	if o.HasPassword && o.Username == "" && o.Version == mqtt.V311 {
		return usageError("-u/--username is required with a password on MQTT 3.1.1")
	}
	return nil
}

// lookupEnv reads an environment variable through App.Getenv (so tests can
// inject it); an empty value counts as unset.
func lookupEnv(app *App, key string) (string, bool) {
	v := app.Getenv(key)
	return v, v != ""
}

func (f *mqttConnFlags) willOptions(o *mqtt.Options) error {
	w := f.will
	given := f.changed("will-message") || f.changed("will-qos") || f.changed("will-retain")
	if w.Topic == "" {
		if given {
			return usageError("--will-topic is required with --will-message, --will-qos or --will-retain")
		}
		return nil
	}
	if err := mqtt.ValidateTopic(w.Topic); err != nil {
		return usageError("--will-topic: %v", err)
	}
	if w.QoS < 0 || w.QoS > 2 {
		return usageError("--will-qos %d: want 0, 1 or 2", w.QoS)
	}
	o.Will = &mqtt.Will{Topic: w.Topic, Payload: []byte(w.Message), QoS: byte(w.QoS), Retain: w.Retain}
	return nil
}

// qosFlag checks a -q/--qos value.
func qosFlag(q int) (byte, error) {
	if q < 0 || q > 2 {
		return 0, usageError("-q/--qos %d: want 0, 1 or 2", q)
	}
	return byte(q), nil
}

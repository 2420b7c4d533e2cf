package testenv

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ecdata/ectool/internal/certs"
)

// MosquittoConfig describes the Debian mosquitto 2.0 broker a test wants.
// The zero value is a plain, anonymous MQTT listener on a free loopback port.
type MosquittoConfig struct {
	// TLS makes the main listener mqtts:// with a server certificate signed by
	// the generated CA (SANs 127.0.0.1, localhost, ::1).
	TLS bool
	// RequireCert (with TLS) asks every client for a certificate signed by
	// the CA (mosquitto's require_certificate true): mutual TLS.
	RequireCert bool
	// ServerCert picks the certificate the TLS listener presents: "" (valid),
	// "expired", "not-yet-valid", "wrong-host" or "self-signed".
	ServerCert string
	// Users writes a password file (mosquitto_passwd -b) and turns anonymous
	// access off, unless AllowAnonymous.
	Users          map[string]string
	AllowAnonymous bool
	// ACL is the content of an acl_file (mosquitto's syntax: "user alice",
	// "topic readwrite sensors/#", "pattern write devices/%u/#").
	ACL string
	// WebSockets adds a second listener speaking MQTT over WebSockets (ws://,
	// or wss:// with TLS); mosquitto must be built with websockets.
	WebSockets bool
	// NoQueueLimits sets max_queued_messages 0 and max_inflight_messages 0, so
	// the broker never drops a message because a client is slow.
	NoQueueLimits bool
	// Extra is appended verbatim to the global part of the configuration,
	// before any listener.
	Extra string
	// ListenerExtra is appended to the main listener's section: listener
	// options such as "max_qos 1" or "max_topic_alias 10".
	ListenerExtra string
	// Certs reuses a certificate set (to share a CA between brokers); nil
	// generates a fresh one in the broker's directory when TLS is on.
	Certs *certs.Set
	// Netns runs the broker in that network namespace (see NewNetns);
	// "" is the test's own.
	Netns string
	// Host is the address the listeners bind, default 127.0.0.1. With
	// Netns it is usually a veth address (VethPair.AddrB) reachable from
	// the test's namespace. With TLS the generated server certificate names
	// Host besides localhost, 127.0.0.1 and ::1.
	Host string
}

// Mosquitto is a running broker started by StartMosquitto. It stops when the
// test ends.
type Mosquitto struct {
	// URL is the main listener: mqtt://127.0.0.1:PORT or mqtts://127.0.0.1:PORT.
	URL  string
	Host string // "127.0.0.1", or MosquittoConfig.Host
	Port int
	// WSURL / WSPort: the websockets listener (ws:// or wss://, path /mqtt)
	// when WebSockets was asked for.
	WSURL  string
	WSPort int

	// Certs holds every generated certificate (nil without TLS). For
	// convenience the usual files are repeated here: CAFile to trust the
	// broker, ClientCert/ClientKey for mutual TLS.
	Certs                         *certs.Set
	CAFile, ClientCert, ClientKey string

	Dir        string // the broker's private directory (config, passwords, log)
	ConfigFile string
	LogFile    string

	netns string
	t     testing.TB
	bin   string
	mu    sync.Mutex // guards cmd and done across Stop and Restart
	cmd   *exec.Cmd
	done  chan struct{}
}

// StartMosquitto starts Debian's mosquitto with a generated configuration in
// a private temp dir and waits until it accepts connections. The config has
// `user root` (mosquitto otherwise drops to the mosquitto user and cannot read
// the temp dir). A port another process grabbed meanwhile is retried with a
// new one. The test is skipped (failed under CI=true) when mosquitto is not
// installed. Example:
//
//	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{
//		TLS: true, RequireCert: true,
//		Users: map[string]string{"meter": "s3cret"},
//		ACL:   "user meter\ntopic readwrite ec-data/#\n",
//	})
//	run(t, "mqtt", "pub", "-b", b.URL, "--ca", b.CAFile,
//		"--cert", b.ClientCert, "--key", b.ClientKey, ...)
//
// On test failure the broker's log is printed.
func StartMosquitto(t testing.TB, cfg MosquittoConfig) *Mosquitto {
	t.Helper()
	bin := Require(t, "mosquitto")
	dir := PrivateDir(t)
	m := &Mosquitto{t: t, Dir: dir, Host: "127.0.0.1", netns: cfg.Netns, bin: bin}
	if cfg.Host != "" {
		m.Host = cfg.Host
	}
	if cfg.TLS {
		m.Certs = cfg.Certs
		if m.Certs == nil {
			hosts := certs.DefaultHosts
			if m.Host != "127.0.0.1" {
				hosts = append([]string{m.Host}, certs.DefaultHosts...)
			}
			s, err := certs.WriteSet(dir, hosts...)
			if err != nil {
				t.Fatalf("generating certificates: %v", err)
			}
			m.Certs = s
		}
		m.CAFile, m.ClientCert, m.ClientKey = m.Certs.CAFile, m.Certs.ClientCert, m.Certs.ClientKey
	}
	if len(cfg.Users) > 0 {
		writePasswords(t, filepath.Join(dir, "passwd"), cfg.Users)
	}
	if cfg.ACL != "" {
		if err := os.WriteFile(filepath.Join(dir, "acl"), []byte(cfg.ACL), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m.ConfigFile = filepath.Join(dir, "mosquitto.conf")
	m.LogFile = filepath.Join(dir, "mosquitto.log")

	var lastErr error
	for attempt := 0; attempt < 8; attempt++ {
		m.Port = FreePort(t)
		if cfg.WebSockets {
			m.WSPort = FreePort(t)
		}
		conf, err := m.config(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(m.ConfigFile, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		if lastErr = m.start(bin); lastErr == nil {
			break
		}
		if !strings.Contains(lastErr.Error(), "in use") {
			t.Fatalf("starting mosquitto: %v", lastErr)
		}
	}
	if lastErr != nil {
		t.Fatalf("starting mosquitto: %v", lastErr)
	}
	scheme, wsScheme := "mqtt", "ws"
	if cfg.TLS {
		scheme, wsScheme = "mqtts", "wss"
	}
	m.URL = fmt.Sprintf("%s://%s", scheme, net.JoinHostPort(m.Host, strconv.Itoa(m.Port)))
	if cfg.WebSockets {
		m.WSURL = fmt.Sprintf("%s://%s/mqtt", wsScheme, net.JoinHostPort(m.Host, strconv.Itoa(m.WSPort)))
	}
	t.Cleanup(func() {
		m.Stop()
		if t.Failed() {
			t.Logf("mosquitto log (%s):\n%s", m.LogFile, m.Log())
		}
	})
	return m
}

func (m *Mosquitto) config(cfg MosquittoConfig) (string, error) {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# generated by internal/testenv for %s", m.t.Name())
	w("user root")
	w("persistence false")
	w("log_dest stderr")
	w("log_type error")
	w("log_type warning")
	w("log_type notice")
	w("log_type information")
	w("connection_messages true")
	w("log_timestamp_format %%H:%%M:%%S")
	w("per_listener_settings false")
	if len(cfg.Users) > 0 {
		w("password_file %s", filepath.Join(m.Dir, "passwd"))
		w("allow_anonymous %t", cfg.AllowAnonymous)
	} else {
		w("allow_anonymous true")
	}
	if cfg.ACL != "" {
		w("acl_file %s", filepath.Join(m.Dir, "acl"))
	}
	if cfg.NoQueueLimits {
		w("max_queued_messages 0")
		w("max_inflight_messages 0")
	}
	if cfg.Extra != "" {
		b.WriteString(cfg.Extra)
		if !strings.HasSuffix(cfg.Extra, "\n") {
			b.WriteString("\n")
		}
	}
	tlsLines := func() error {
		if !cfg.TLS {
			return nil
		}
		cert, key := m.Certs.ServerCert, m.Certs.ServerKey
		switch cfg.ServerCert {
		case "":
		case "expired":
			cert, key = m.Certs.ExpiredServerCert, m.Certs.ExpiredServerKey
		case "not-yet-valid":
			cert, key = m.Certs.NotYetValidServerCert, m.Certs.NotYetValidServerKey
		case "wrong-host":
			cert, key = m.Certs.WrongHostServerCert, m.Certs.WrongHostServerKey
		case "self-signed":
			cert, key = m.Certs.SelfSignedServerCert, m.Certs.SelfSignedServerKey
		default:
			return fmt.Errorf("MosquittoConfig.ServerCert %q: want expired, not-yet-valid, wrong-host or self-signed", cfg.ServerCert)
		}
		w("cafile %s", m.Certs.CAFile)
		w("certfile %s", cert)
		w("keyfile %s", key)
		if cfg.RequireCert {
			w("require_certificate true")
		}
		return nil
	}
	w("")
	w("listener %d %s", m.Port, m.Host)
	if err := tlsLines(); err != nil {
		return "", err
	}
	if cfg.ListenerExtra != "" {
		b.WriteString(cfg.ListenerExtra)
		if !strings.HasSuffix(cfg.ListenerExtra, "\n") {
			b.WriteString("\n")
		}
	}
	if cfg.WebSockets {
		w("")
		w("listener %d %s", m.WSPort, m.Host)
		w("protocol websockets")
		if err := tlsLines(); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

// start runs mosquitto and waits for its listeners. An error mentioning
// "in use" means a port was taken: the caller retries with others.
func (m *Mosquitto) start(bin string) error {
	logf, err := os.OpenFile(m.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := InNetns(m.netns, bin, "-c", m.ConfigFile)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = peerProcAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	ports := []int{m.Port}
	if m.WSPort != 0 {
		ports = append(ports, m.WSPort)
	}
	deadline := time.Now().Add(10 * time.Second)
	if m.netns != "" {
		// Loopback of another namespace is out of our reach: mosquitto says
		// "running" once every listener is open.
		return m.waitRunning(cmd, done, deadline)
	}
	for _, p := range ports {
		addr := net.JoinHostPort(m.Host, strconv.Itoa(p))
		for {
			select {
			case <-done:
				log := m.Log()
				if strings.Contains(log, "Address already in use") {
					return fmt.Errorf("port %d in use", p)
				}
				return fmt.Errorf("mosquitto exited at start:\n%s", log)
			default:
			}
			if err := WaitPort(addr, 100*time.Millisecond); err == nil {
				break
			}
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				<-done
				return fmt.Errorf("mosquitto does not listen on %s after 10s:\n%s", addr, m.Log())
			}
		}
	}
	m.cmd, m.done = cmd, done
	return nil
}

func (m *Mosquitto) waitRunning(cmd *exec.Cmd, done chan struct{}, deadline time.Time) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			log := m.Log()
			if strings.Contains(log, "Address already in use") {
				return fmt.Errorf("port in use")
			}
			return fmt.Errorf("mosquitto exited at start:\n%s", log)
		case <-tick.C:
		}
		if strings.Contains(m.Log(), " running") {
			m.cmd, m.done = cmd, done
			return nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("mosquitto in namespace %s is not running after 10s:\n%s", m.netns, m.Log())
		}
	}
}

// Stop terminates the broker (SIGTERM, then SIGKILL after 5 s). It is safe to
// call more than once; tests call it to simulate a broker going away.
func (m *Mosquitto) Stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(5 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
	m.cmd, m.done = nil, nil
}

// Restart starts a stopped broker again with the same configuration on the
// same port, as a broker restarted in the field comes back, and returns
// once it accepts connections. Clients must reconnect: with persistence
// off it remembers no session. It is a no-op on a running broker.
func (m *Mosquitto) Restart() {
	m.t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		return
	}
	if err := m.start(m.bin); err != nil {
		m.t.Fatalf("restarting mosquitto on port %d: %v", m.Port, err)
	}
}

// Log is what the broker has logged so far.
func (m *Mosquitto) Log() string {
	b, _ := os.ReadFile(m.LogFile)
	return string(b)
}

// Addr is host:port of the main listener.
func (m *Mosquitto) Addr() string { return net.JoinHostPort(m.Host, strconv.Itoa(m.Port)) }

func writePasswords(t testing.TB, file string, users map[string]string) {
	t.Helper()
	tool := Require(t, "mosquitto_passwd")
	names := make([]string, 0, len(users))
	for u := range users {
		names = append(names, u)
	}
	sort.Strings(names)
	for i, u := range names {
		args := []string{"-b", file, u, users[u]}
		if i == 0 {
			args = append([]string{"-c"}, args...)
		}
		out, err := exec.Command(tool, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("mosquitto_passwd %s: %v: %s", u, err, bytes.TrimSpace(out))
		}
	}
	_ = os.Chmod(file, 0o600)
}

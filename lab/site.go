// Package lab is a simulated IoT energy-monitoring site on loopback, for
// learning ectool and for testing it without hardware: an MQTT broker (see
// lab/broker), a gateway publishing meter telemetry to it, an RS-485
// Modbus bus with meters on it (see lab/bus; wired in by bus.go) and a
// cellular modem's AT port (see lab/modem; wired in by modem.go).
// capture.go records the broker's own traffic into <dir>/capture (see
// package capture).
//
// Start with Start: it starts every component of a Config in order and
// returns a Site whose Endpoints say how to reach each one. Everything runs
// as an unprivileged user: ports are free ephemeral ones (or PortBase plus
// a fixed offset per endpoint), files go to a private directory, secrets
// are mode 0600.
//
// Adding a component: write a type implementing Component in a file of its
// own, add its settings to Config and its endpoints to Endpoints, and list
// it in Site.components (each place is marked "COMPONENTS").
package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/ecdata/ectool/diag/exitcode"
	"github.com/ecdata/ectool/lab/broker"
	labmodem "github.com/ecdata/ectool/lab/modem"
)

// Schema is the value of "schema" in the endpoints document.
const Schema = "ectool.lab/v1"

// Port offsets from Config.PortBase, one per endpoint, fixed so a person
// can remember them across runs. Components added later take the next
// free tens (the bus 10-19, the modem 20-29).
const (
	OffsetMQTT  = 0
	OffsetMQTTS = 1
	OffsetWS    = 2
	OffsetMTLS  = 3
)

// Config describes the site to simulate. The zero value is a usable lab.
type Config struct {
	// Site names the site; it is part of every telemetry topic. Default "lab".
	Site string
	// Dir receives the lab's files (CA, password files). Default: a new
	// private temp dir, removed by Stop. A given Dir is created with mode
	// 0700 if missing and kept.
	Dir string
	// Host is the loopback address to listen on. Default 127.0.0.1.
	Host string
	// PortBase fixes the ports: endpoint i listens on PortBase+offset.
	// 0 picks free ephemeral ports.
	PortBase int

	Broker  BrokerConfig
	Gateway GatewayConfig
	Bus     BusConfig
	Modem   ModemConfig
	Capture CaptureConfig
	// COMPONENTS: settings of components added later go here (Bus ...).
}

// BrokerConfig tunes the embedded MQTT broker.
type BrokerConfig struct {
	// NoWebSocket turns the ws:// listener off.
	NoWebSocket bool
	// WrapListener, when set, wraps each of the broker's bound listeners
	// ("mqtt", "mqtts" below TLS, "ws"): where a recorder of the lab's own
	// broker traffic hooks in.
	WrapListener func(name string, ln net.Listener) net.Listener
}

// Component is one simulated part of the site.
type Component interface {
	// Name is the component's key in the endpoints document ("broker").
	Name() string
	// Start brings the component up; it may read the endpoints of the
	// components started before it from s.Endpoints and must add its own.
	Start(ctx context.Context, s *Site) error
	// Stop takes it down, gracefully where the real thing would be.
	Stop() error
}

// Site is a running lab.
type Site struct {
	Config    Config
	Endpoints Endpoints

	// Broker, Gateway and Modem are the running components (nil when off).
	Broker  *broker.Broker
	Gateway *Gateway
	Modem   *labmodem.Modem

	mu      sync.Mutex
	started []Component
	ownDir  bool
	stopped chan struct{} // closed by Stop
}

// Endpoints say how to reach every part of a running lab. They are the
// document `ectool lab -o json` prints.
type Endpoints struct {
	Schema    string            `json:"schema"`
	Site      string            `json:"site"`
	Dir       string            `json:"dir"`
	StartedAt string            `json:"started_at"`
	Broker    *BrokerEndpoints  `json:"broker,omitempty"`
	Gateway   *GatewayInfo      `json:"gateway,omitempty"`
	Bus       *BusEndpoints     `json:"bus,omitempty"`
	Modem     *ModemEndpoints   `json:"modem,omitempty"`
	Capture   *CaptureEndpoints `json:"capture,omitempty"`
	// COMPONENTS: endpoints of components added later go here (Bus ...).
}

// BrokerEndpoints are the embedded broker's URLs, trust anchor and accounts.
type BrokerEndpoints struct {
	MQTT  string `json:"mqtt"`
	MQTTS string `json:"mqtts"`
	WS    string `json:"ws,omitempty"`
	// MTLS is an mqtts:// listener that requires a client certificate
	// signed by the lab CA: ClientCertFile and ClientKeyFile (--cert, --key).
	MTLS           string `json:"mtls"`
	ClientCertFile string `json:"client_cert_file"`
	ClientKeyFile  string `json:"client_key_file"`
	// CAFile is the PEM file to give to --ca for mqtts://.
	CAFile      string   `json:"ca_file"`
	ServerNames []string `json:"server_names"`
	// Users: username, password (this is a lab), password_file and ACL.
	Users []broker.User `json:"users"`
	// DeniedTopic is a topic nobody may use, for --deny-topic.
	DeniedTopic string `json:"denied_topic"`
}

// User returns the broker account called name (zero when absent).
func (b *BrokerEndpoints) User(name string) broker.User {
	for _, u := range b.Users {
		if u.Name == name {
			return u
		}
	}
	return broker.User{}
}

// components lists the site's components in start order.
func (s *Site) components() []Component {
	var cs []Component
	if !s.Config.Capture.Disabled {
		// Before the broker: it sets the broker's listener hook.
		cs = append(cs, &captureComponent{})
	}
	cs = append(cs, &brokerComponent{})
	if !s.Config.Gateway.Disabled {
		cs = append(cs, &Gateway{})
	}
	if !s.Config.Bus.Disabled {
		cs = append(cs, &busComponent{})
	}
	if !s.Config.Modem.Disabled {
		cs = append(cs, &modemComponent{})
	}
	// COMPONENTS: append components added later here.
	return cs
}

// Port is the port for an endpoint at offset: PortBase+offset, or 0 (any
// free port) when PortBase is 0.
func (s *Site) Port(offset int) int {
	if s.Config.PortBase == 0 {
		return 0
	}
	return s.Config.PortBase + offset
}

// Start starts every component in order. On failure it stops what it
// started and returns the first error; a port already taken is a
// *broker.ListenError (or the component's own error type). The site runs
// until Stop or until ctx ends.
func Start(ctx context.Context, cfg Config) (*Site, error) {
	if err := Validate(cfg); err != nil {
		return nil, err
	}
	if cfg.Site == "" {
		cfg.Site = "lab"
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	s := &Site{Config: cfg}
	if cfg.Dir == "" {
		d, err := os.MkdirTemp("", "ectool-lab-")
		if err != nil {
			return nil, fmt.Errorf("making the lab directory: %w", err)
		}
		s.Config.Dir, s.ownDir = d, true
	} else if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("making the lab directory: %w", err)
	}
	s.Endpoints = Endpoints{
		Schema:    Schema,
		Site:      cfg.Site,
		Dir:       s.Config.Dir,
		StartedAt: time.Now().UTC().Format("2006-01-02T15:04:05.000000Z07:00"),
	}
	for _, c := range s.components() {
		if err := c.Start(ctx, s); err != nil {
			_ = s.Stop()
			return nil, fmt.Errorf("starting the lab %s: %w", c.Name(), err)
		}
		s.started = append(s.started, c)
	}
	stopped := make(chan struct{})
	s.stopped = stopped
	go func() {
		select {
		case <-ctx.Done():
			_ = s.Stop()
		case <-stopped:
		}
	}()
	return s, nil
}

// Stop stops the components in reverse order (the gateway says "offline"
// before the broker goes) and removes the lab directory if Start made it.
// Calling it again does nothing.
func (s *Site) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for i := len(s.started) - 1; i >= 0; i-- {
		if err := s.started[i].Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stopping the lab %s: %w", s.started[i].Name(), err))
		}
	}
	s.started = nil
	if s.stopped != nil {
		close(s.stopped)
		s.stopped = nil
	}
	if s.ownDir {
		if err := os.RemoveAll(s.Config.Dir); err != nil {
			errs = append(errs, err)
		}
		s.ownDir = false
	}
	return errors.Join(errs...)
}

// FieldError is a Config setting that cannot work, found before anything
// starts. Field is named like the `ectool lab` flag that sets it.
type FieldError struct {
	Field   string // "site", "port-base", "interval", "meters"
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// ExitKind is exitcode.KindUsage: a flag's value.
func (e *FieldError) ExitKind() exitcode.Kind { return exitcode.KindUsage }

// Validate checks cfg without starting anything.
func Validate(cfg Config) error {
	if cfg.Site != "" && !validSiteName(cfg.Site) {
		return &FieldError{"site", fmt.Sprintf("%q: use letters, digits, '-' and '_' only (it becomes an MQTT topic level)", cfg.Site)}
	}
	if cfg.PortBase != 0 && (cfg.PortBase < 1 || cfg.PortBase > 65535-30) {
		return &FieldError{"port-base", fmt.Sprintf("%d: use 1024-65505, or 0 for free ports", cfg.PortBase)}
	}
	if cfg.Gateway.Interval < 0 || (cfg.Gateway.Interval > 0 && cfg.Gateway.Interval < 10*time.Millisecond) {
		return &FieldError{"interval", fmt.Sprintf("%s: use 10ms or more", cfg.Gateway.Interval)}
	}
	seen := map[string]bool{}
	for _, m := range cfg.Gateway.Meters {
		if !validSiteName(m) {
			return &FieldError{"meters", fmt.Sprintf("%q: use letters, digits, '-' and '_' only (it becomes an MQTT topic level)", m)}
		}
		if seen[m] {
			return &FieldError{"meters", fmt.Sprintf("%q is listed twice", m)}
		}
		seen[m] = true
	}
	if !cfg.Bus.Disabled {
		if _, err := cfg.Bus.config(); err != nil {
			return err
		}
	}
	if !cfg.Modem.Disabled {
		if err := cfg.Modem.validate(); err != nil {
			return err
		}
	}
	// COMPONENTS: validate the settings of components added later here.
	return nil
}

func validSiteName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
		default:
			return false
		}
	}
	return true
}

// brokerComponent wraps lab/broker as a site component.
type brokerComponent struct{ b *broker.Broker }

func (c *brokerComponent) Name() string { return "broker" }

func (c *brokerComponent) Start(ctx context.Context, s *Site) error {
	ws := s.Port(OffsetWS)
	if s.Config.Broker.NoWebSocket {
		ws = -1
	}
	// The site, not ctx, ends the broker: the gateway must be able to say
	// "offline" before the broker goes.
	b, err := broker.Start(context.WithoutCancel(ctx), broker.Config{
		Site:         s.Config.Site,
		Dir:          s.Config.Dir,
		Host:         s.Config.Host,
		MQTTPort:     s.Port(OffsetMQTT),
		MQTTSPort:    s.Port(OffsetMQTTS),
		WSPort:       ws,
		MTLSPort:     s.Port(OffsetMTLS),
		WrapListener: s.Config.Broker.WrapListener,
	})
	if err != nil {
		return err
	}
	c.b = b
	s.Broker = b
	s.Endpoints.Broker = &BrokerEndpoints{
		MQTT: b.MQTT, MQTTS: b.MQTTS, WS: b.WS,
		MTLS: b.MTLS, ClientCertFile: b.ClientCertFile, ClientKeyFile: b.ClientKeyFile,
		CAFile: b.CAFile, ServerNames: b.ServerNames,
		Users:       b.Users,
		DeniedTopic: "denied/x",
	}
	return nil
}

func (c *brokerComponent) Stop() error { return c.b.Close() }

package lab

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	labmodem "github.com/ecdata/ectool/lab/modem"
)

// Port offsets of the modem's endpoints (the modem takes 20-29).
const (
	OffsetModemAT = 20
)

// ModemConfig tunes the simulated cellular modem (package lab/modem).
type ModemConfig struct {
	// Disabled leaves the modem out.
	Disabled bool
	// Scenario names what is wrong (labmodem.Scenarios); default
	// "wrong-apn": registered, good signal, no IP address.
	Scenario string
	// Dialect is the vendor it answers as: generic, quectel, sierra, ublox
	// or telit.
	Dialect string
	// Quirks: echo, urc, slow.
	Quirks []string
	// NoPTY leaves the PTY out even where the OS has them.
	NoPTY bool
}

func (c ModemConfig) config() labmodem.Config {
	return labmodem.Config{Scenario: c.Scenario, Dialect: c.Dialect, Quirks: c.Quirks}
}

func (c ModemConfig) validate() error {
	if err := c.config().Validate(); err != nil {
		if fe, ok := err.(*labmodem.FieldError); ok {
			return &FieldError{fe.Field, fe.Problem}
		}
		return err
	}
	return nil
}

// ModemEndpoints say how to reach the simulated modem's AT port: over TCP
// (a serial server's raw port) and as a PTY (Linux, macOS) that `ectool
// probe modem --port` opens like a USB modem's ttyUSB port.
type ModemEndpoints struct {
	Scenario    string   `json:"scenario"`
	Description string   `json:"description"`
	Dialect     string   `json:"dialect"`
	Quirks      []string `json:"quirks"`
	// TCP is the raw AT port: tcp://127.0.0.1:PORT.
	TCP string `json:"tcp"`
	// PTY is the serial device; PTYLink a stable link to it in the lab
	// directory; PTYUnavailable says why there is none.
	PTY            string `json:"pty,omitempty"`
	PTYLink        string `json:"pty_link,omitempty"`
	PTYUnavailable string `json:"pty_unavailable,omitempty"`
	// APN is the APN the modem's data context carries; ExpectedAPN the one
	// the site's SIM needs (give it to --apn).
	APN         string `json:"apn"`
	ExpectedAPN string `json:"expected_apn"`
	// PINFile holds the SIM's PIN (for --pin-file in pin-locked).
	PINFile string `json:"pin_file"`
	ICCID   string `json:"iccid"`
	// LogFile receives every command the modem hears, one per line.
	LogFile string `json:"log_file"`
}

// modemComponent runs lab/modem as a site component.
type modemComponent struct {
	m   *labmodem.Modem
	log *os.File
}

func (c *modemComponent) Name() string { return "modem" }

func (c *modemComponent) Start(ctx context.Context, s *Site) error {
	var err error
	if c.m, err = labmodem.New(s.Config.Modem.config()); err != nil {
		return err
	}
	cfg := c.m.Config()
	ep := &ModemEndpoints{Scenario: cfg.Scenario, Dialect: cfg.Dialect, Quirks: append([]string{}, cfg.Quirks...),
		APN: cfg.APN(), ExpectedAPN: cfg.ExpectedAPN, ICCID: c.m.ICCID()}
	for _, sc := range labmodem.Scenarios() {
		if sc.Name == cfg.Scenario {
			ep.Description = sc.Description
		}
	}
	ep.PINFile = filepath.Join(s.Config.Dir, "modem-pin")
	if err := os.WriteFile(ep.PINFile, []byte(cfg.PIN+"\n"), 0o600); err != nil {
		return err
	}
	ep.LogFile = filepath.Join(s.Config.Dir, "modem.log")
	if c.log, err = os.OpenFile(ep.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
		return err
	}
	c.m.SetLog(c.log)
	tcp, err := c.m.ServeTCP(net.JoinHostPort(s.Config.Host, strconv.Itoa(s.Port(OffsetModemAT))))
	if err != nil {
		c.Stop()
		return err
	}
	ep.TCP = tcp.URL()
	switch {
	case s.Config.Modem.NoPTY:
		ep.PTYUnavailable = "turned off"
	case runtime.GOOS != "linux" && runtime.GOOS != "darwin":
		ep.PTYUnavailable = "not supported on " + runtime.GOOS
	default:
		x, err := c.m.OpenPTY(filepath.Join(s.Config.Dir, "modem"))
		if err != nil {
			ep.PTYUnavailable = err.Error() // not fatal: the TCP port reaches the same modem
			break
		}
		ep.PTY, ep.PTYLink = x.Path(), x.Link()
	}
	s.Modem = c.m
	s.Endpoints.Modem = ep
	return nil
}

func (c *modemComponent) Stop() error {
	if c.m != nil {
		c.m.Close()
	}
	if c.log != nil {
		return c.log.Close()
	}
	return nil
}

package modem

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ecdata/ectool/diag/report"
)

var cfunWords = map[int]string{0: "minimum (radio off)", 1: "full", 4: "radio off (airplane mode)"}

// checkPort: does anything speak AT here? Then echo off and errors in words
// for the session (both put back afterwards), and who the modem is.
func (p *prober) checkPort(ctx context.Context, c *report.Check) {
	for k, v := range p.o.PortEvidence {
		c.Evidence[k] = v
	}
	a, err := p.do(ctx, "AT")
	if err != nil && !p.s.Mute() && p.r.Err == nil {
		// The first command after opening a port often meets the tail of
		// something else (a half-typed line, boot noise): one more try.
		a, err = p.do(ctx, "AT")
	}
	if err != nil {
		p.portFailed(c, err)
		return
	}
	p.r.Port.EchoWasOn = a.Echo
	c.Evidence["echo"] = "off"
	if a.Echo {
		c.Evidence["echo"] = "on (turned off for the probe, put back after)"
		_, _ = p.do(ctx, "ATE0")
	}
	if a, err := p.do(ctx, "AT+CMEE?"); err == nil {
		if rest, ok := firstWith(a.Lines, "+CMEE:"); ok {
			if n, ok := atoi(rest); ok {
				p.r.Port.CMEEWas = n
			}
		}
	}
	c.Evidence["error_reports"] = "unknown (AT+CMEE? failed): errors may come without words"
	if p.r.Port.CMEEWas >= 0 {
		c.Evidence["error_reports"] = fmt.Sprintf("+CMEE %d", p.r.Port.CMEEWas)
		if p.r.Port.CMEEWas != 2 {
			if _, err := p.do(ctx, "AT+CMEE=2"); err == nil {
				p.cmeeSet = true
				c.Evidence["error_reports"] = fmt.Sprintf("+CMEE %d (2, errors in words, for the probe; put back after)", p.r.Port.CMEEWas)
			}
		}
	}
	id := &p.r.Modem
	if a, err := p.ask(ctx, "AT+CGMI"); err == nil {
		id.Manufacturer = firstLine(a)
	}
	if a, err := p.ask(ctx, "AT+CGMM"); err == nil {
		id.Model = firstLine(a)
	}
	if a, err := p.ask(ctx, "AT+CGMR"); err == nil {
		id.Revision = firstLine(a)
	}
	id.Dialect = DialectOf(id.Manufacturer)
	c.Evidence["manufacturer"], c.Evidence["model"], c.Evidence["revision"] = id.Manufacturer, id.Model, id.Revision
	c.Evidence["dialect"] = id.Dialect
	if a, err := p.ask(ctx, "AT+CFUN?"); err == nil {
		if rest, ok := firstWith(a.Lines, "+CFUN:"); ok {
			if n, ok := atoi(splitFields(rest)[0]); ok {
				p.r.Port.Functionality = &n
				w := cfunWords[n]
				if w == "" {
					w = "vendor-specific"
				}
				c.Evidence["functionality"] = fmt.Sprintf("%d, %s", n, w)
			}
		}
	}
	name := strings.TrimSpace(id.Manufacturer + " " + id.Model)
	if name == "" {
		name = "a modem that does not say its name"
	}
	p.r.summaries[CheckPort] = "the AT port answers (" + name + ")"
}

// portFailed words why nothing usable answered AT.
func (p *prober) portFailed(c *report.Check, err error) {
	c.Evidence["error"] = err.Error()
	var te *TimeoutError
	var ge *GarbageError
	var ce *CommandError
	switch {
	case errors.As(err, &ge):
		p.fail(c, fmt.Sprintf("the port answers AT with %d bytes that are not AT text", ge.Count),
			"a wrong baud rate (a modem on a real UART: try --baud 115200, 9600 or 57600), or this is not the modem's AT port (USB modems have several: GPS NMEA, diagnostics, AT; try the others, /dev/serial/by-id/ names them)", "")
	case errors.As(err, &te) && te.Partial != "":
		p.fail(c, fmt.Sprintf("the answer to AT stops short (%q, no OK)", te.Partial),
			"something answers but never finishes: another program may be reading the same port (ModemManager, a gateway's dialer), or the modem is busy in a data call on this port", "")
	case errors.As(err, &te):
		p.fail(c, fmt.Sprintf("no answer to AT within %s", te.Timeout),
			"nothing answers: check this is the modem's AT port (USB modems have several; the AT one is often ttyUSB2 on Quectel, ttyUSB3 on Sierra), the modem is powered (lsusb), not in a data call on this port (PPP), and no other program reads it", "")
	case errors.As(err, &ce):
		p.fail(c, "the port answers AT with "+ce.Final,
			"the device does not accept plain AT: it may not be a modem's AT port", "")
	default:
		p.fail(c, "the AT port could not be used: "+err.Error(), "check the port and run again", "")
	}
}

package modem

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ecdata/ectool/diag/report"
)

// checkSIM: is a SIM there and unlocked? With Options.PIN and a SIM asking
// for its PIN, the PIN goes once: a refused PIN is never retried (three
// wrong ones block the SIM until its PUK is entered).
func (p *prober) checkSIM(ctx context.Context, c *report.Check) {
	sim := &SIMInfo{PIN: "not needed"}
	p.r.SIM = sim
	if p.o.PIN == "" {
		sim.PIN = "not given"
	}
	st, ok := p.simState(ctx, c)
	if !ok {
		return
	}
	if st.Code == "SIM PIN" && p.o.PIN != "" {
		if st, ok = p.sendPIN(ctx, c); !ok {
			return
		}
	} else if st.Code == "READY" && p.o.PIN != "" {
		sim.PIN = "not sent: the SIM is already unlocked"
	}
	sim.State = st
	c.Evidence["state"] = st.Code
	c.Evidence["pin"] = sim.PIN
	if !st.Usable {
		p.simLocked(ctx, c, st)
		return
	}
	p.readICCID(ctx, c)
	if a, err := p.ask(ctx, "AT+CIMI"); err == nil {
		if v := firstLine(a); len(v) >= 6 && len(v) <= 15 && strings.Trim(v, "0123456789") == "" {
			sim.IMSI = v
			c.Evidence["imsi"] = v
		}
	}
	p.r.summaries[CheckSIM] = "SIM ready"
}

// simState asks AT+CPIN? and fails the check when there is no usable answer.
func (p *prober) simState(ctx context.Context, c *report.Check) (SIMState, bool) {
	a, err := p.do(ctx, "AT+CPIN?")
	var ce *CommandError
	switch {
	case errors.As(err, &ce):
		p.simError(c, ce)
		return SIMState{}, false
	case err != nil:
		p.fail(c, "no answer about the SIM", "the modem did not answer AT+CPIN?: run again; if it persists, power-cycle the modem", "")
		return SIMState{}, false
	}
	st, err := ParseCPIN(a.Lines)
	if err != nil {
		c.Evidence["error"] = err.Error()
		p.fail(c, "the SIM state cannot be read", "the answer to AT+CPIN? is not the standard one: see the evidence", "")
		return st, false
	}
	return st, true
}

func (p *prober) simError(c *report.Check, ce *CommandError) {
	c.Evidence["error"] = ce.Error()
	e := ce.CME
	switch {
	case e.Means(cmeSIMNotInserted), e == nil:
		p.fail(c, "no SIM", "insert a SIM (contacts down, the cut corner as the holder shows) in the slot the modem uses, then run again; a SIM tray half out reads as no SIM", "")
		if e == nil {
			c.Hint = "the modem refused AT+CPIN? without saying why (it does not report errors in words): usually no SIM; " + c.Hint
		}
	case e.Means(cmeSIMBusy):
		p.fail(c, "the SIM is busy", "the modem is still reading the SIM (right after power-up): run again in ten seconds", "")
	case e.Means(cmeSIMFailure), e.Means(cmeSIMWrong):
		p.fail(c, "the SIM does not work ("+e.Text+")", "clean the contacts and reseat the SIM, or try another SIM: the card or its holder is faulty", "")
	case e.Means(cmeSIMPUK):
		p.fail(c, "the SIM is blocked and asks for its PUK", "unblock it with the PUK from the operator (in a phone or the gateway's tools); ectool never sends a PUK", "")
	default:
		p.fail(c, "the modem cannot read the SIM ("+ce.Final+")", "reseat the SIM and run again", "")
	}
}

// sendPIN sends the PIN once and reads the SIM state again.
func (p *prober) sendPIN(ctx context.Context, c *report.Check) (SIMState, bool) {
	sim := p.r.SIM
	a, err := p.s.DoSecret(ctx, `AT+CPIN="`+p.o.PIN+`"`, p.o.PIN)
	p.note(a.Command, a, err)
	if err != nil {
		sim.PIN = "sent once: refused"
		var ce *CommandError
		if !errors.As(err, &ce) {
			sim.PIN = "sent once: no answer"
		}
		c.Evidence["pin"] = sim.PIN
		left := p.attempts(ctx, c)
		why := "the SIM refused the PIN from --pin-file"
		if ce != nil && ce.CME != nil {
			why += " (" + ce.CME.Text + ")"
		}
		p.fail(c, why+attemptsWords(left),
			"check the PIN in the file; ectool sent it once and does not retry: three wrong PINs block the SIM until its PUK is entered", "")
		return SIMState{}, false
	}
	sim.PIN = "sent once: accepted"
	// Some SIMs take a moment to report READY after the PIN.
	for i := 0; ; i++ {
		st, ok := p.simState(ctx, c)
		if !ok || st.Code != "SIM PIN" || i == 2 {
			return st, ok
		}
		select {
		case <-ctx.Done():
			return st, ok
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// simLocked fails the check for a SIM that blocks registration.
func (p *prober) simLocked(ctx context.Context, c *report.Check, st SIMState) {
	left := p.attempts(ctx, c)
	switch st.Code {
	case "SIM PIN":
		p.fail(c, "the SIM waits for its PIN"+attemptsWords(left),
			"give the PIN with --pin-file FILE (ectool sends it once and never retries), or set it in the gateway's modem configuration", "")
	case "SIM PUK":
		p.fail(c, "the SIM is blocked and asks for its PUK"+attemptsWords(left),
			"a wrong PIN was entered too often: unblock it with the PUK from the operator (in a phone or the gateway's tools); ectool never sends a PUK", "")
	default:
		p.fail(c, "the SIM is "+st.Words, "this lock needs a code from whoever locked the modem (the operator or the vendor); ectool does not send it", "")
	}
}

// attempts asks how many PIN/PUK attempts are left, where the modem tells.
func (p *prober) attempts(ctx context.Context, c *report.Check) *PINCount {
	cmds := append([]vendorCommand{{cmd: "AT+CPINR"}}, forDialect(pinCountCommands, p.r.Modem.Dialect)...)
	for _, vc := range cmds {
		a, err := p.do(ctx, vc.cmd)
		if err != nil {
			continue
		}
		if n, err := ParsePINCount(a.Lines); err == nil {
			p.r.SIM.Attempts = &n
			if n.PIN >= 0 {
				c.Evidence["pin_attempts_left"] = n.PIN
			}
			if n.PUK >= 0 {
				c.Evidence["puk_attempts_left"] = n.PUK
			}
			c.Evidence["attempts_command"] = vc.cmd
			return &n
		}
	}
	return nil
}

func attemptsWords(n *PINCount) string {
	switch {
	case n == nil || n.PIN < 0:
		return " (the modem does not say how many attempts are left)"
	case n.PIN == 1:
		return " (1 attempt left)"
	}
	return fmt.Sprintf(" (%d attempts left)", n.PIN)
}

// readICCID tries AT+CCID, the vendor's command, then the SIM file itself.
func (p *prober) readICCID(ctx context.Context, c *report.Check) {
	cmds := append([]vendorCommand{{cmd: "AT+CCID", also: []string{"+ICCID:"}}}, forDialect(iccidCommands, p.r.Modem.Dialect)...)
	for _, vc := range cmds {
		if a, err := p.ask(ctx, vc.cmd, vc.also...); err == nil {
			if id, err := ParseICCID(a.Lines); err == nil {
				p.r.SIM.ICCID, p.r.SIM.ICCIDCommand = id, vc.cmd
				c.Evidence["iccid"], c.Evidence["iccid_command"] = id, vc.cmd
				return
			}
		}
		if p.s.Mute() {
			return
		}
	}
	const readEF = "AT+CRSM=176,12258,0,0,10" // READ BINARY of EF_ICCID (2FE2)
	if a, err := p.ask(ctx, readEF); err == nil {
		if id, err := ParseCRSMICCID(a.Lines); err == nil {
			p.r.SIM.ICCID, p.r.SIM.ICCIDCommand = id, readEF
			c.Evidence["iccid"], c.Evidence["iccid_command"] = id, readEF
			return
		}
	}
	p.warn(c, "the ICCID could not be read (AT+CCID, the vendor's command and the SIM file EF_ICCID all failed): read it off the card if the operator asks for it")
}

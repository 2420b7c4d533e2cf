package modem

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ecdata/ectool/diag/exitcode"
	"github.com/ecdata/ectool/diag/report"
)

// Probe diagnoses the modem on an open AT port, check by check: a failed
// check skips those that depend on it (the signal is measured whatever the
// SIM says). Every command has its own deadline (Options.Timeout) and a
// modem that stops answering is declared mute after two silent commands, so
// the whole probe is bounded. It never returns nil.
func Probe(ctx context.Context, o Options) *Result {
	if o.Now == nil {
		o.Now = time.Now
	}
	r := &Result{Target: o.Target, Via: "at", ExpectedAPN: o.ExpectedAPN, Port: PortState{CMEEWas: -1},
		Modem: Identity{Dialect: DialectGeneric}, summaries: map[string]string{}}
	if o.Port == nil {
		r.Checks = append(r.Checks, report.Check{ID: CheckPort, Title: checkTitles[CheckPort], Status: report.Failed, Hint: "no port was given to the probe"})
		for _, id := range CheckOrder[1:] {
			r.Checks = append(r.Checks, report.Check{ID: id, Title: checkTitles[id], Status: report.Skipped, SkippedReason: CheckPort + " failed"})
		}
		r.summaries[CheckPort] = "no port"
		r.Verdict = r.verdict()
		return r
	}
	s := NewSession(o.Port, o.Timeout, o.Now)
	defer s.Close()
	p := &prober{o: o, s: s, r: r, cache: map[string]cached{}}
	p.run(ctx)
	r.Transcript = s.Transcript()
	r.Verdict = r.verdict()
	return r
}

type cached struct {
	a   *Answer
	err error
}

type prober struct {
	o     Options
	s     *Session
	r     *Result
	cache map[string]cached
	cur   *report.Check
	// stop is why the remaining checks do not run (the modem went mute,
	// the port failed).
	stop    string
	cmeeSet bool
}

func (p *prober) run(ctx context.Context) {
	if p.step(ctx, CheckPort, p.checkPort) == report.Failed {
		p.skipRest(CheckPort, CheckPort+" failed")
		return
	}
	simOK := p.step(ctx, CheckSIM, p.checkSIM) != report.Failed
	p.step(ctx, CheckSignal, p.checkSignal)
	switch {
	case !simOK:
		p.skipRest(CheckSignal, CheckSIM+" failed: no registration without a usable SIM")
	case p.step(ctx, CheckRegistration, p.checkRegistration) == report.Failed:
		p.skipRest(CheckRegistration, CheckRegistration+" failed")
	default:
		p.step(ctx, CheckOperator, p.checkOperator)
		p.step(ctx, CheckPDP, p.checkPDP)
	}
	p.restore(ctx)
}

// step runs one check unless an earlier one stopped the session.
func (p *prober) step(ctx context.Context, id string, fn func(context.Context, *report.Check)) report.Status {
	if p.stop != "" {
		p.skip(id, p.stop)
		return report.Skipped
	}
	c := report.Check{ID: id, Title: checkTitles[id], Status: report.OK, Evidence: map[string]any{}}
	p.cur = &c
	start := p.o.Now()
	fn(ctx, &c)
	p.cur = nil
	var ioe *IOError
	switch {
	case ctx.Err() != nil && p.stop == "":
		p.stop = "the probe was interrupted"
		p.fail(&c, "the probe was interrupted", "run it again and let it finish (each command waits at most --timeout)", "")
	case errors.As(p.r.Err, &ioe) && p.stop == "":
		p.stop = "the port failed"
		p.fail(&c, "the port failed: "+ioe.Err.Error(),
			"the device vanished or the connection closed (USB unplugged, the modem rebooting, the serial server gone): check it and run again", "")
	case p.s.Mute() && id == CheckPort && c.Status == report.Failed:
		p.r.Port.Mute = true // silence or garbage from the first AT: the port's own words say it
	case p.s.Mute() && p.stop == "":
		p.r.Port.Mute = true
		p.stop = "the modem stopped answering"
		// Whatever a later step concluded from silence (no signal, no SIM)
		// is not a finding: the modem stopped talking.
		after := "mid-session"
		if last := p.s.LastAnswered(); last != "" {
			after += " (after " + last + ")"
		}
		p.fail(&c, "the modem stopped answering "+after,
			"power-cycle the modem (a firmware hang), and check nothing else took the port; run again", "")
		c.Evidence["mute"] = fmt.Sprintf("two commands in a row got no answer within %s each; the rest were not sent", p.s.Timeout())
	}
	c.DurationMS = report.Millis(p.o.Now().Sub(start))
	p.r.Checks = append(p.r.Checks, c)
	return c.Status
}

func (p *prober) skip(id, reason string) {
	p.r.Checks = append(p.r.Checks, report.Check{ID: id, Title: checkTitles[id], Status: report.Skipped, SkippedReason: reason})
}

// skipRest skips every check after the one named.
func (p *prober) skipRest(after, reason string) {
	if p.stop != "" {
		reason = p.stop
	}
	seen := false
	for _, id := range CheckOrder {
		if seen && !p.has(id) {
			p.skip(id, reason)
		}
		seen = seen || id == after
	}
}

func (p *prober) has(id string) bool {
	for _, c := range p.r.Checks {
		if c.ID == id {
			return true
		}
	}
	return false
}

// fail marks c failed with the words of the verdict and a hint; trap, when
// given, is the clause after the summary ("the APN is probably wrong").
func (p *prober) fail(c *report.Check, summary, hint, trap string) {
	c.Status, c.Hint = report.Failed, hint
	p.r.summaries[c.ID] = summary
	if trap != "" {
		p.r.summaries[c.ID] = summary + ": " + trap
	}
}

func (p *prober) warn(c *report.Check, hint string) {
	if c.Status == report.OK {
		c.Status = report.Warning
	}
	if c.Hint == "" {
		c.Hint = hint
	}
}

// ask sends a query once per session (the answers to the same question do
// not change within a probe) and records the answer in the current check's
// evidence.
func (p *prober) ask(ctx context.Context, cmd string, also ...string) (*Answer, error) {
	if c, ok := p.cache[cmd]; ok {
		p.note(cmd, c.a, c.err)
		return c.a, c.err
	}
	a, err := p.do(ctx, cmd, also...)
	p.cache[cmd] = cached{a, err}
	return a, err
}

// do sends a command every time and records it.
func (p *prober) do(ctx context.Context, cmd string, also ...string) (*Answer, error) {
	a, err := p.s.Do(ctx, cmd, also...)
	p.note(cmd, a, err)
	return a, err
}

// note adds a command's answer (or why there is none) to the evidence, and
// keeps a port failure for step.
func (p *prober) note(cmd string, a *Answer, err error) {
	var ioe *IOError
	if errors.As(err, &ioe) && p.r.Err == nil {
		p.r.Err = exitcode.Wrap(exitcode.KindCannotRun, err)
	}
	if p.cur == nil {
		return
	}
	answers, _ := p.cur.Evidence["answers"].(map[string]string)
	if answers == nil {
		answers = map[string]string{}
		p.cur.Evidence["answers"] = answers
	}
	var ce *CommandError
	switch {
	case err == nil || errors.As(err, &ce):
		answers[a.Command] = a.Words()
	default:
		answers[a.Command] = "(" + err.Error() + ")"
	}
}

// restore puts back what the probe changed: the error mode and the echo.
// After an interrupt it still does (two short commands, each bounded by
// the timeout); a mute modem or a failed port cannot be told.
func (p *prober) restore(ctx context.Context) {
	if !p.cmeeSet && !p.r.Port.EchoWasOn {
		p.r.Port.Restored = true // nothing was changed
		return
	}
	if ctx.Err() != nil {
		ctx = context.WithoutCancel(ctx)
	} else if p.stop != "" {
		p.setPortEvidence("settings_restored", "no: "+p.stop)
		return
	}
	ok := true
	if p.cmeeSet {
		_, err := p.s.Do(ctx, fmt.Sprintf("AT+CMEE=%d", p.r.Port.CMEEWas))
		ok = ok && err == nil
	}
	if p.r.Port.EchoWasOn {
		_, err := p.s.Do(ctx, "ATE1")
		ok = ok && err == nil
	}
	p.r.Port.Restored = ok
	p.setPortEvidence("settings_restored", map[bool]string{true: "yes", false: "no: the modem did not acknowledge"}[ok])
}

func (p *prober) setPortEvidence(k string, v any) {
	for i := range p.r.Checks {
		if p.r.Checks[i].ID == CheckPort && p.r.Checks[i].Status != report.Skipped {
			p.r.Checks[i].Evidence[k] = v
		}
	}
}

// firstLine is the first information line with any "+XXX:" prefix cut.
func firstLine(a *Answer) string {
	if a == nil || len(a.Lines) == 0 {
		return ""
	}
	l := a.Lines[0]
	if i := strings.IndexByte(l, ':'); i > 0 && strings.ContainsRune("+^#!$", rune(l[0])) {
		l = l[i+1:]
	}
	return strings.TrimSpace(unquote(strings.TrimSpace(l)))
}

package modem

import (
	"context"
	"fmt"
	"strings"

	"github.com/ecdata/ectool/diag/report"
)

// checkSignal: what the radio measures, from +CSQ and +CESQ, or the
// vendor's command where +CESQ fails or measures nothing.
func (p *prober) checkSignal(ctx context.Context, c *report.Check) {
	sig := &SignalInfo{}
	p.r.Signal = sig
	if a, err := p.ask(ctx, "AT+CSQ"); err == nil {
		if q, err := ParseCSQ(a.Lines); err == nil {
			sig.CSQ = &q
			if q.DBm != nil {
				sig.RSSIdBm, sig.RSSICommand = ptr(float64(*q.DBm)), "AT+CSQ"
			}
		}
	}
	if a, err := p.ask(ctx, "AT+CESQ"); err == nil {
		if q, err := ParseCESQ(a.Lines); err == nil && q.RSRPdBm != nil {
			sig.RSRPdBm, sig.RSRQdB, sig.Tech, sig.LTECommand = q.RSRPdBm, q.RSRQdB, "LTE", "AT+CESQ"
		}
	}
	if sig.RSRPdBm == nil && !p.s.Mute() {
		p.vendorRadio(ctx, sig)
	}
	p.judgeSignal(c, sig)
}

// vendorRadio asks the dialect's own signal command.
func (p *prober) vendorRadio(ctx context.Context, sig *SignalInfo) {
	parsers := map[string]func([]string) (Radio, error){
		"AT+QCSQ": ParseQCSQ, "AT!GSTATUS?": ParseGSTATUS, "AT+UCGED?": ParseUCGED, "AT#RFSTS": ParseRFSTS,
	}
	for _, vc := range forDialect(radioCommands, p.r.Modem.Dialect) {
		a, err := p.ask(ctx, vc.cmd, vc.also...)
		if err != nil {
			if p.s.Mute() {
				return
			}
			continue
		}
		r, err := parsers[vc.cmd](a.Lines)
		if err != nil || r.empty() {
			continue
		}
		sig.RSRPdBm, sig.RSRQdB, sig.SINRdB, sig.Tech, sig.LTECommand = r.RSRPdBm, r.RSRQdB, r.SINRdB, r.Tech, vc.cmd
		if sig.RSSIdBm == nil && r.RSSIdBm != nil {
			sig.RSSIdBm, sig.RSSICommand = r.RSSIdBm, vc.cmd
		}
		return
	}
}

func (p *prober) judgeSignal(c *report.Check, sig *SignalInfo) {
	ev := c.Evidence
	if sig.CSQ != nil {
		ev["csq"] = fmt.Sprintf("%d,%d", sig.CSQ.RSSI, sig.CSQ.BER)
	}
	worst := ""
	note := func(key string, v *float64, unit string, rate func(float64) string) {
		if v == nil {
			return
		}
		r := rate(*v)
		ev[key] = fmt.Sprintf("%g %s (%s)", *v, unit, r)
		if ratingRank(r) > ratingRank(worst) {
			worst = r
		}
	}
	note("rssi", sig.RSSIdBm, "dBm", RateRSSI)
	note("rsrp", sig.RSRPdBm, "dBm", RateRSRP)
	note("rsrq", sig.RSRQdB, "dB", RateRSRQ)
	if sig.SINRdB != nil {
		ev["sinr"] = fmt.Sprintf("%g dB", *sig.SINRdB)
	}
	for k, v := range map[string]string{"rssi_command": sig.RSSICommand, "lte_command": sig.LTECommand, "tech": sig.Tech} {
		if v != "" {
			ev[k] = v
		}
	}
	sig.Rating = worst
	switch {
	case sig.RSSIdBm == nil && sig.RSRPdBm == nil:
		hint := "the modem measures no signal: check the antenna is on the main (not the diversity or GNSS) connector, the cable and its connectors, and that this operator covers the site"
		if f := p.r.Port.Functionality; f != nil && *f != 1 {
			hint = fmt.Sprintf("the radio is off (+CFUN: %d, %s): the gateway's software turns it on (ectool changes nothing)", *f, cfunWords[*f])
		}
		p.fail(c, "no signal (+CSQ: 99, nothing measured)", hint, "")
		return
	case sig.RSSIdBm != nil:
		p.r.summaries[CheckSignal] = fmt.Sprintf("signal %g dBm %s", *sig.RSSIdBm, RateRSSI(*sig.RSSIdBm))
	default:
		p.r.summaries[CheckSignal] = fmt.Sprintf("signal RSRP %g dBm %s", *sig.RSRPdBm, RateRSRP(*sig.RSRPdBm))
	}
	if worst == RatingPoor {
		p.warn(c, "poor signal: data may stall or drop; raise or move the antenna, use an external antenna or a shorter cable")
	}
}

func ratingRank(r string) int {
	switch r {
	case RatingExcellent:
		return 1
	case RatingGood:
		return 2
	case RatingFair:
		return 3
	case RatingPoor:
		return 4
	}
	return 0
}

// checkRegistration: registered for data (EPS or GPRS), or why not.
func (p *prober) checkRegistration(ctx context.Context, c *report.Check) {
	reg := &RegInfo{}
	p.r.Registration = reg
	parse := map[string]func([]string) (Registration, error){"AT+CEREG?": ParseCEREG, "AT+CGREG?": ParseCGREG, "AT+CREG?": ParseCREG}
	for _, cmd := range []string{"AT+CEREG?", "AT+CGREG?", "AT+CREG?"} {
		a, err := p.ask(ctx, cmd)
		if err != nil {
			if p.s.Mute() {
				return
			}
			continue
		}
		r, err := parse[cmd](a.Lines)
		if err != nil {
			continue
		}
		switch r.Domain {
		case "eps":
			reg.EPS = &r
		case "gprs":
			reg.GPRS = &r
		default:
			reg.CS = &r
		}
		c.Evidence[r.Domain] = regWords(r)
	}
	for _, r := range []*Registration{reg.EPS, reg.GPRS} {
		if r != nil && r.Registered() {
			reg.Registered, reg.Roaming, reg.Tech = true, r.Roaming(), r.Tech
			break
		}
	}
	if reg.Tech == "" {
		if op := p.operator(ctx); op != nil {
			reg.Tech = op.Tech
		}
	}
	if reg.Tech != "" {
		c.Evidence["tech"] = reg.Tech
	}
	if reg.Registered {
		where := "home"
		if reg.Roaming {
			where = "roaming"
		}
		p.r.summaries[CheckRegistration] = "registered (" + strings.TrimSuffix(where+", "+reg.Tech, ", ") + ")"
		return
	}
	p.notRegistered(ctx, c, reg)
}

func regWords(r Registration) string {
	s := r.State
	if r.Tech != "" {
		s += ", " + r.Tech
	}
	if r.Area != "" || r.CellID != "" {
		s += fmt.Sprintf(", area %s cell %s", r.Area, r.CellID)
	}
	if r.RejectCause >= 0 {
		s += fmt.Sprintf(", reject cause %d", r.RejectCause)
		if r.RejectWords != "" {
			s += " (" + r.RejectWords + ")"
		}
	}
	return s
}

package modem

import (
	"context"
	"fmt"
	"strings"

	"github.com/ecdata/ectool/diag/report"
)

// notRegistered fails the registration check with the most telling reason.
func (p *prober) notRegistered(ctx context.Context, c *report.Check, reg *RegInfo) {
	var all []*Registration
	for _, r := range []*Registration{reg.EPS, reg.GPRS, reg.CS} {
		if r != nil {
			all = append(all, r)
		}
	}
	if len(all) == 0 {
		p.fail(c, "the registration state cannot be read", errNoRegistration.Error()+": see the evidence", "")
		return
	}
	tech := ""
	if reg.Tech != "" {
		tech = reg.Tech + ", "
	}
	for _, r := range all {
		if r.Stat == 3 {
			if r.Tech != "" {
				tech = r.Tech + ", "
			}
			why := strings.TrimSuffix(tech, ", ")
			if r.RejectCause >= 0 {
				why = fmt.Sprintf("%sreject cause %d", tech, r.RejectCause)
				if r.RejectWords != "" {
					why += ": " + r.RejectWords
				}
			}
			c.Evidence["last_error"] = p.lastError(ctx)
			p.fail(c, strings.TrimSuffix("registration denied ("+why+")", " ()"),
				"the network refuses this SIM: ask the operator whether the SIM is activated, its plan covers this network and country (roaming), and the modem's IMEI is not barred", "the network refuses this SIM")
			return
		}
	}
	if cs := reg.CS; cs != nil && cs.Registered() {
		p.fail(c, "registered for calls (circuit switched) but not for data",
			"the packet domain refuses or is not offered: ask the operator whether the SIM has a data plan on this network", "")
		return
	}
	for _, r := range all {
		if r.Stat == 6 || r.Stat == 7 {
			p.fail(c, r.State, "registered for SMS only: the SIM's plan or the network gives no data service here; ask the operator", "")
			return
		}
	}
	main := all[0]
	hint := "no network accepts the modem yet: check the antenna and coverage for this operator's bands, wait a minute after power-up and run again"
	switch {
	case p.r.Port.Functionality != nil && *p.r.Port.Functionality != 1:
		f := *p.r.Port.Functionality
		hint = fmt.Sprintf("the radio is off (+CFUN: %d, %s): the gateway's software turns it on (ectool changes nothing)", f, cfunWords[f])
	case main.Stat == 0:
		hint = "the modem is not even looking for a network"
		if op := p.operator(ctx); op != nil && op.Mode == 2 {
			hint += ": operator selection is deregistered (+COPS: 2); the gateway's software sets it to automatic"
		} else {
			hint += ": the radio may be off or a manually chosen network absent; check AT+CFUN? and AT+COPS? in the evidence"
		}
	}
	p.fail(c, main.State, hint, "")
}

// operator asks AT+COPS? once and keeps the answer for the operator check.
func (p *prober) operator(ctx context.Context) *Operator {
	if p.r.Operator != nil {
		return p.r.Operator
	}
	a, err := p.ask(ctx, "AT+COPS?")
	if err != nil {
		return nil
	}
	op, err := ParseCOPS(a.Lines)
	if err != nil {
		return nil
	}
	p.r.Operator = &op
	return &op
}

// checkOperator: which network, chosen how.
func (p *prober) checkOperator(ctx context.Context, c *report.Check) {
	op := p.operator(ctx)
	if op == nil {
		p.warn(c, "the modem does not say which operator it uses (AT+COPS? failed): see the evidence")
		return
	}
	c.Evidence["selection"] = op.ModeWords
	if op.Tech != "" {
		c.Evidence["tech"] = op.Tech
	}
	name := op.Name
	if op.Format == 2 && len(name) >= 5 {
		name = "MCC " + name[:3] + " MNC " + name[3:]
	}
	if name == "" {
		p.warn(c, "registered, but the modem names no operator")
		return
	}
	c.Evidence["operator"] = name
	p.r.summaries[CheckOperator] = "on '" + name + "'"
	if op.Mode == 1 {
		p.warn(c, "the operator is chosen by hand (+COPS mode 1): the modem will not move to another network if this one fails; leave the selection automatic unless the SIM needs otherwise")
	}
}

// checkPDP: does a data context have an IP address, and is its APN the
// expected one?
func (p *prober) checkPDP(ctx context.Context, c *report.Check) {
	pdp := &PDPInfo{DataCID: -1, Contexts: []PDPContext{}}
	p.r.PDP = pdp
	if a, err := p.ask(ctx, "AT+CGDCONT?"); err == nil {
		pdp.Contexts, _ = ParseCGDCONT(a.Lines)
	}
	if a, err := p.ask(ctx, "AT+CGACT?"); err == nil {
		if act, err := ParseCGACT(a.Lines); err == nil {
			for i := range pdp.Contexts {
				if v, ok := act[pdp.Contexts[i].CID]; ok {
					pdp.Contexts[i].Active = ptr(v)
				}
			}
		}
	}
	if a, err := p.ask(ctx, "AT+CGPADDR"); err == nil {
		if addrs, err := ParseCGPADDR(a.Lines); err == nil {
			for i := range pdp.Contexts {
				if v, ok := addrs[pdp.Contexts[i].CID]; ok {
					pdp.Contexts[i].Addresses = v
				}
			}
		}
	}
	if p.s.Mute() {
		return
	}
	for _, x := range pdp.Contexts {
		c.Evidence[fmt.Sprintf("context_%d", x.CID)] = contextWords(x)
	}
	if p.o.ExpectedAPN != "" {
		c.Evidence["expected_apn"] = p.o.ExpectedAPN
	}
	x := dataContext(pdp.Contexts)
	if x == nil {
		p.fail(c, "no data context (PDP) is defined", "the modem has no APN at all: set the APN in the gateway's connection settings (ectool changes nothing)", "")
		return
	}
	pdp.DataCID = x.CID
	p.judgePDP(ctx, c, x)
}

// dataContext picks the context that carries data: the first with an
// address, else the first active, else context 1, else the first defined.
func dataContext(cs []PDPContext) *PDPContext {
	pick := func(ok func(PDPContext) bool) *PDPContext {
		for i := range cs {
			if ok(cs[i]) {
				return &cs[i]
			}
		}
		return nil
	}
	for _, f := range []func(PDPContext) bool{
		func(x PDPContext) bool { return len(x.Addresses) > 0 },
		func(x PDPContext) bool { return x.Active != nil && *x.Active },
		func(x PDPContext) bool { return x.CID == 1 },
		func(PDPContext) bool { return true },
	} {
		if x := pick(f); x != nil {
			return x
		}
	}
	return nil
}

func contextWords(x PDPContext) string {
	s := fmt.Sprintf("APN '%s', %s", x.APN, x.Type)
	if x.Active != nil {
		s += map[bool]string{true: ", active", false: ", inactive"}[*x.Active]
	}
	if len(x.Addresses) > 0 {
		return s + ", " + strings.Join(x.Addresses, " ")
	}
	return s + ", no address"
}

func (p *prober) judgePDP(ctx context.Context, c *report.Check, x *PDPContext) {
	want := p.o.ExpectedAPN
	what := fmt.Sprintf("PDP context %d with APN '%s'", x.CID, x.APN)
	if len(x.Addresses) > 0 {
		p.r.summaries[CheckPDP] = what + " has " + strings.Join(x.Addresses, " ")
		if want != "" && !SameAPN(x.APN, want) {
			p.warn(c, fmt.Sprintf("the context has an address, but its APN '%s' is not the expected '%s': the data may reach the public internet instead of the site's private network", x.APN, want))
		}
		return
	}
	p.r.PDP.LastError = p.lastError(ctx)
	c.Evidence["last_error"] = p.r.PDP.LastError
	summary := what + " has no IP address"
	if x.APN == "" {
		summary = fmt.Sprintf("PDP context %d with an empty APN has no IP address", x.CID)
	}
	fix := "set the APN in the gateway's connection settings (ectool changes nothing on the modem)"
	if want != "" {
		fix = fmt.Sprintf("set the APN to '%s' in the gateway's connection settings (ectool changes nothing on the modem)", want)
	}
	if t := p.r.Registration; t != nil && t.Tech != "" && !strings.Contains(t.Tech, "LTE") && !strings.Contains(t.Tech, "NB-IoT") && !strings.Contains(t.Tech, "NR") {
		fix += "; on 2G/3G a context gets its address only once the gateway dials, so check its connection is up"
	}
	var trap string
	switch {
	case want != "" && !SameAPN(x.APN, want):
		trap = fmt.Sprintf("the APN is probably wrong (expected '%s')", want)
	case want != "":
		trap = "the APN is the expected one, so the SIM may have no data plan or the operator refuses the context (see last_error)"
		fix = "ask the operator whether the SIM's data service is active for this APN"
	case x.APN == "":
		trap = "the APN is probably missing (pass --apn to compare with the operator's)"
	default:
		trap = "the APN is probably wrong (pass --apn with the operator's APN to compare)"
	}
	if p.r.Registration != nil && p.r.Registration.Roaming {
		fix += "; the modem is roaming: the SIM's plan must allow data roaming"
	}
	p.fail(c, summary, fix, trap)
}

// lastError reads the modem's last error report (AT+CEER), "" if none.
func (p *prober) lastError(ctx context.Context) string {
	a, err := p.ask(ctx, "AT+CEER")
	if err != nil {
		return ""
	}
	s, _ := ParseCEER(a.Lines)
	return s
}

// SameAPN compares two APNs as the network does: case-insensitively, and
// ignoring the operator suffix a network may append
// ("m2m.example.mnc001.mcc001.gprs" is "m2m.example").
func SameAPN(a, b string) bool {
	norm := func(s string) string {
		s = strings.ToLower(strings.TrimSpace(s))
		if i := strings.Index(s, ".mnc"); i > 0 && strings.Contains(s[i:], ".mcc") {
			s = s[:i]
		}
		return s
	}
	return norm(a) == norm(b)
}

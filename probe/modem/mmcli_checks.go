package modem

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/ecdata/ectool/diag/report"
)

// qualityRating rates ModemManager's signal quality percent (derived from
// the RSSI: 0 % is -113 dBm, 100 % -51 dBm).
func qualityRating(q int) string { return rate(float64(q), 70, 50, 25) }

func (p *mmProber) checkSignal(ctx context.Context, c *report.Check) {
	m := p.modem
	sig := &SignalInfo{}
	p.r.Signal = sig
	q, err := strconv.Atoi(m.get("modem.generic.signal-quality.value"))
	if err != nil {
		p.fail(c, "no signal quality reported", "ModemManager reports no signal quality: see 'mmcli -m any'", "")
		return
	}
	sig.QualityPercent, sig.Rating = &q, qualityRating(q)
	c.Evidence["quality"] = fmt.Sprintf("%d%% (%s)", q, sig.Rating)
	c.Evidence["recent"] = m.get("modem.generic.signal-quality.recent")
	if techs := m.list("modem.generic.access-technologies"); len(techs) > 0 {
		sig.Tech = strings.ToUpper(strings.Join(techs, ","))
		c.Evidence["tech"] = sig.Tech
	}
	if q == 0 {
		p.fail(c, "no signal (quality 0%)", "the modem measures no signal: check the antenna is on the main connector, the cable, and coverage", "")
		return
	}
	p.r.summaries[CheckSignal] = fmt.Sprintf("signal quality %d%% %s", q, sig.Rating)
	if sig.Rating == RatingPoor {
		c.Status, c.Hint = report.Warning, "poor signal: data may stall or drop; raise or move the antenna, use an external antenna"
	}
}

func (p *mmProber) checkRegistration(ctx context.Context, c *report.Check) {
	m := p.modem
	st := m.get("modem.3gpp.registration-state")
	techs := m.list("modem.generic.access-technologies")
	reg := &RegInfo{State: st, Tech: strings.ToUpper(strings.Join(techs, ","))}
	p.r.Registration = reg
	c.Evidence["registration"], c.Evidence["modem_state"] = st, m.get("modem.generic.state")
	if reg.Tech != "" {
		c.Evidence["tech"] = reg.Tech
	}
	switch st {
	case "home", "roaming", "home-csfb-not-preferred", "roaming-csfb-not-preferred":
		reg.Registered, reg.Roaming = true, strings.HasPrefix(st, "roaming")
		where := "home"
		if reg.Roaming {
			where = "roaming"
		}
		p.r.summaries[CheckRegistration] = "registered (" + strings.TrimSuffix(where+", "+reg.Tech, ", ") + ")"
	case "denied":
		p.fail(c, "registration denied", "the network refuses this SIM: ask the operator whether the SIM is activated and its plan covers this network and country", "the network refuses this SIM")
	case "home-sms-only", "roaming-sms-only":
		p.fail(c, "registered for SMS only", "the SIM's plan or the network gives no data service here; ask the operator", "")
	case "searching":
		p.fail(c, "not registered, searching", "no network accepts the modem yet: check the antenna and coverage, wait a minute and run again", "")
	default:
		if ps := m.get("modem.generic.power-state"); ps != "" && ps != "on" {
			p.fail(c, "not registered (radio "+ps+")", "the modem's radio is "+ps+": ModemManager enables it when a connection is started ('mmcli -m any -e' or NetworkManager)", "")
			return
		}
		p.fail(c, "not registered ("+strings.TrimSpace(st+" "+m.get("modem.generic.state"))+")", "the modem is not looking for a network: is it enabled ('mmcli -m any' state)? NetworkManager or 'mmcli -m any -e' enables it", "")
	}
}

func (p *mmProber) checkOperator(ctx context.Context, c *report.Check) {
	m := p.modem
	name, code := m.get("modem.3gpp.operator-name"), m.get("modem.3gpp.operator-code")
	op := &Operator{Format: -1, AcT: -1, Name: name, ModeWords: "as ModemManager chose"}
	p.r.Operator = op
	if name == "" && code == "" {
		c.Status, c.Hint = report.Warning, "registered, but ModemManager names no operator"
		return
	}
	if name == "" {
		name = code
	}
	c.Evidence["operator"], c.Evidence["operator_code"] = name, code
	p.r.summaries[CheckOperator] = "on '" + name + "'"
}

func (p *mmProber) checkBearer(ctx context.Context, c *report.Check) {
	m := p.modem
	pdp := &PDPInfo{DataCID: -1, Contexts: []PDPContext{}}
	p.r.PDP = pdp
	if apn := m.get("modem.3gpp.eps.initial-bearer.settings.apn"); apn != "" {
		c.Evidence["initial_bearer_apn"] = apn
	}
	if p.o.ExpectedAPN != "" {
		c.Evidence["expected_apn"] = p.o.ExpectedAPN
	}
	paths := m.list("modem.generic.bearers")
	if len(paths) == 0 {
		p.fail(c, "ModemManager has no data bearer", "nothing asked ModemManager to connect: start the gateway's connection (NetworkManager: 'nmcli connection up <name>') with the right APN", "")
		return
	}
	var data *PDPContext
	errWords := ""
	for i, path := range paths {
		b, err := p.cli.read(ctx, "-b", path)
		if err != nil {
			c.Evidence[fmt.Sprintf("bearer_%d", i)] = err.Error()
			continue
		}
		x := PDPContext{CID: i, Type: b.get("bearer.properties.ip-type"), APN: b.get("bearer.properties.apn"), Addresses: []string{}}
		x.Active = ptr(b.get("bearer.status.connected") == "yes")
		for _, k := range []string{"bearer.ipv4-config.address", "bearer.ipv6-config.address"} {
			if a := b.get(k); a != "" {
				x.Addresses = append(x.Addresses, a)
			}
		}
		pdp.Contexts = append(pdp.Contexts, x)
		c.Evidence[fmt.Sprintf("bearer_%d", i)] = path + ": " + contextWords(x)
		if e := strings.TrimSpace(b.get("bearer.status.connection-error.name") + " " + b.get("bearer.status.connection-error.message")); e != "" {
			errWords = e
		}
	}
	data = dataContext(pdp.Contexts)
	if data == nil {
		p.fail(c, "the bearers cannot be read", "see the evidence", "")
		return
	}
	pdp.DataCID, pdp.LastError = data.CID, errWords
	if errWords != "" {
		c.Evidence["last_error"] = errWords
	}
	what := fmt.Sprintf("the bearer with APN '%s'", data.APN)
	if len(data.Addresses) > 0 {
		p.r.summaries[CheckPDP] = what + " has " + strings.Join(data.Addresses, " ")
		if p.o.ExpectedAPN != "" && !SameAPN(data.APN, p.o.ExpectedAPN) {
			c.Status, c.Hint = report.Warning, fmt.Sprintf("the bearer has an address, but its APN '%s' is not the expected '%s'", data.APN, p.o.ExpectedAPN)
		}
		return
	}
	trap := "the APN is probably wrong (pass --apn with the operator's APN to compare)"
	fix := "set the APN in the gateway's connection settings (NetworkManager's gsm.apn)"
	if want := p.o.ExpectedAPN; want != "" && !SameAPN(data.APN, want) {
		trap = fmt.Sprintf("the APN is probably wrong (expected '%s')", want)
		fix = fmt.Sprintf("set the APN to '%s' in the gateway's connection settings (NetworkManager's gsm.apn)", want)
	} else if want != "" {
		trap, fix = "the APN is the expected one, so the SIM may have no data plan (see last_error)", "ask the operator whether the SIM's data service is active for this APN"
	}
	p.fail(c, what+" has no IP address", fix, trap)
}

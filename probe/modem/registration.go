package modem

import (
	"errors"
	"fmt"
	"strings"
)

// Registration is the answer to AT+CEREG? (EPS, LTE), AT+CGREG? (GPRS
// packet domain) or AT+CREG? (circuit switched), 3GPP TS 27.007 §10.1.22,
// §10.1.20 and §7.2.
type Registration struct {
	// Domain is "eps", "gprs" or "cs".
	Domain string `json:"domain"`
	// N is the modem's reporting mode (<n>), -1 when only an unsolicited
	// form came.
	N     int    `json:"n"`
	Stat  int    `json:"stat"`
	State string `json:"state"`
	// Area is the location or tracking area code, CellID the cell (hex, as
	// the modem gave them).
	Area   string `json:"area,omitempty"`
	CellID string `json:"cell_id,omitempty"`
	// AcT is the access technology number (-1: not given), Tech in words.
	AcT  int    `json:"act"`
	Tech string `json:"tech,omitempty"`
	// RejectCause (-1: not given) comes with <n>=3 and a cause type 0.
	RejectCause int    `json:"reject_cause"`
	RejectWords string `json:"reject_words,omitempty"`
}

// Registered reports a registration that carries data or calls: home or
// roaming (also "CSFB not preferred").
func (r Registration) Registered() bool {
	return r.Stat == 1 || r.Stat == 5 || r.Stat == 9 || r.Stat == 10
}

// Roaming reports a registration on a visited network.
func (r Registration) Roaming() bool { return r.Stat == 5 || r.Stat == 7 || r.Stat == 10 }

var statWords = []string{
	0:  "not registered, not searching",
	1:  "registered, home network",
	2:  "not registered, searching",
	3:  "registration denied",
	4:  "unknown (out of coverage?)",
	5:  "registered, roaming",
	6:  "registered for SMS only, home network",
	7:  "registered for SMS only, roaming",
	8:  "attached for emergency bearer services only",
	9:  "registered for CSFB not preferred, home network",
	10: "registered for CSFB not preferred, roaming",
	11: "attached for access to RLOS",
}

var actWords = []string{
	0: "GSM", 1: "GSM Compact", 2: "UMTS", 3: "EDGE", 4: "HSDPA", 5: "HSUPA", 6: "HSPA",
	7: "LTE", 8: "LTE-M/EC-GSM-IoT", 9: "NB-IoT", 10: "LTE (5G core)", 11: "NR (5G core)",
	12: "NG-RAN", 13: "LTE+NR (EN-DC)",
}

// ActWords words an access technology number of +CREG/+CGREG/+CEREG/+COPS.
func ActWords(act int) string {
	if act >= 0 && act < len(actWords) {
		return actWords[act]
	}
	return ""
}

// ParseCEREG reads the answer to AT+CEREG?.
func ParseCEREG(lines []string) (Registration, error) { return parseReg(lines, "+CEREG:", "eps") }

// ParseCGREG reads the answer to AT+CGREG?.
func ParseCGREG(lines []string) (Registration, error) { return parseReg(lines, "+CGREG:", "gprs") }

// ParseCREG reads the answer to AT+CREG?.
func ParseCREG(lines []string) (Registration, error) { return parseReg(lines, "+CREG:", "cs") }

// parseReg reads a registration answer. The read command's answer starts
// with <n>; an unsolicited code of the same name (a URC amid the answer)
// starts with <stat>. Like ModemManager's creg parsers it tells them apart
// by the second field: a small unquoted number is <stat> after <n>, a quoted
// or four-digit field is an area code after <stat>. The solicited line wins.
func parseReg(lines []string, prefix, domain string) (Registration, error) {
	var sol, unsol []string
	for _, rest := range linesWith(lines, prefix) {
		f := splitFields(rest)
		if solicitedReg(f) {
			sol = f
		} else if unsol == nil {
			unsol = f
		}
	}
	r := Registration{Domain: domain, N: -1, AcT: -1, RejectCause: -1}
	var rest []string
	switch {
	case sol != nil:
		r.N, _ = atoi(sol[0])
		r.Stat, _ = atoi(sol[1])
		rest = sol[2:]
	case unsol != nil:
		stat, ok := atoi(unsol[0])
		if !ok {
			return r, fmt.Errorf("%s %q has no registration state", prefix, strings.Join(unsol, ","))
		}
		r.Stat, rest = stat, unsol[1:]
	default:
		return r, fmt.Errorf("no %s line in the answer", prefix)
	}
	if r.Stat < 0 || r.Stat >= len(statWords) {
		r.State = fmt.Sprintf("state %d (not in the standard)", r.Stat)
	} else {
		r.State = statWords[r.Stat]
	}
	// After <stat>: <area>,<ci>,<AcT>[,<rac> (CGREG)][,<cause_type>,<reject_cause>].
	// Some +CEREG answers carry a RAC between the TAC and the cell.
	if domain == "eps" && len(rest) == 4 && r.N <= 2 {
		rest = append(rest[:1], rest[2:]...)
	}
	get := func(i int) string {
		if i < len(rest) {
			return strings.TrimSpace(unquote(rest[i]))
		}
		return ""
	}
	r.Area, r.CellID = get(0), get(1)
	if act, ok := atoi(get(2)); ok {
		r.AcT, r.Tech = act, ActWords(act)
	}
	causeAt := 3
	if domain == "gprs" {
		causeAt = 4 // <rac> first
	}
	if ct, ok := atoi(get(causeAt)); ok && ct == 0 {
		if c, ok := atoi(get(causeAt + 1)); ok {
			r.RejectCause, r.RejectWords = c, RejectCauseWords(c)
		}
	}
	return r, nil
}

// solicitedReg reports whether fields start with <n>,<stat>.
func solicitedReg(f []string) bool {
	if len(f) < 2 || isQuoted(f[1]) || isQuoted(f[0]) {
		return false
	}
	n, ok1 := atoi(f[0])
	s := strings.TrimSpace(f[1])
	stat, ok2 := atoi(s)
	return ok1 && ok2 && n >= 0 && n <= 5 && len(s) <= 3 && stat >= 0 && stat <= 11
}

// errNoRegistration is returned when no registration command answered.
var errNoRegistration = errors.New("the modem answered none of AT+CEREG?, AT+CGREG?, AT+CREG?")

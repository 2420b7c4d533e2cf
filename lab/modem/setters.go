package modem

import (
	"regexp"
	"strings"
	"sync"
)

// allowedSetters are the commands with "=" (or no "?") a read-only probe
// may send: echo, error words, one PIN, and reads that take parameters
// (compiled on first use, not at every start of ectool).
var allowedSetters = sync.OnceValue(func() []*regexp.Regexp {
	return []*regexp.Regexp{
		regexp.MustCompile(`^ATE[01]?$`),
		regexp.MustCompile(`^AT\+CMEE=[012]$`),
		regexp.MustCompile(`^AT\+CPIN="?[0-9]{4,8}"?$`),
		regexp.MustCompile(`^AT\+CPINR(=.*)?$`),
		regexp.MustCompile(`^AT\+QPINC="SC"$`),
		regexp.MustCompile(`^AT\+CRSM=(176|178|192|242),`),
		regexp.MustCompile(`^AT\+CGPADDR(=[0-9,]+)?$`),
	}
})

// readActions are commands without "?" that only read.
var readActions = map[string]bool{
	"AT": true, "ATI": true, "AT+CSQ": true, "AT+CESQ": true, "AT+CCID": true, "AT+CIMI": true, "AT+CEER": true,
	"AT+CGMI": true, "AT+CGMM": true, "AT+CGMR": true, "AT+CGSN": true, "AT+QCCID": true, "AT+QCSQ": true,
	"AT#CCID": true, "AT#RFSTS": true, "AT#PCT": true, "AT+UPINCNT": true,
}

// Setters lists the commands received that change a modem's settings or
// state, beyond what a read-only probe may send (ATE0/ATE1, AT+CMEE=0-2,
// one AT+CPIN with a PIN, reads with parameters): AT&W, +CGDCONT=,
// +COPS=, +CFUN=, +CGACT= and any other action the lab does not know to
// be a read. It is the lab's own list, written apart from the probe's.
func Setters(cmds []Command) []string {
	var out []string
	for _, c := range cmds {
		u := strings.ToUpper(strings.TrimSpace(c.Line))
		switch {
		case u == "AT+COPS=?": // a test command, but it scans every network and drops service
			out = append(out, c.Line)
		case strings.HasSuffix(u, "=?") && !strings.ContainsAny(u, ";&"): // a test command lists values
		case strings.Contains(u, "&W"), strings.Contains(u, "+CGDCONT="), strings.Contains(u, "+COPS="),
			strings.Contains(u, "+CFUN="), strings.Contains(u, "+CGACT="):
			out = append(out, c.Line)
		case strings.HasSuffix(u, "?") && !strings.Contains(strings.TrimSuffix(u, "=?"), "="):
		case readActions[u]:
		default:
			ok := false
			for _, re := range allowedSetters() {
				ok = ok || re.MatchString(u)
			}
			if !ok {
				out = append(out, c.Line)
			}
		}
	}
	return out
}

package modem

import (
	"regexp"
	"strings"
	"sync"
)

// readExec are action commands (no "?", no "=") known to only read.
// Everything else without "?" is refused: ATZ, AT&F, AT&W, ATD, ATH,
// AT+QPOWD, AT!RESET ... all change or end something.
var readExec = map[string]bool{
	"AT": true, "ATI": true, "ATE": true, "ATE0": true, "ATE1": true,
	"AT+CSQ": true, "AT+CESQ": true, "AT+CCID": true, "AT+ICCID": true, "AT+CIMI": true,
	"AT+CGPADDR": true, "AT+CEER": true, "AT+CGMI": true, "AT+CGMM": true, "AT+CGMR": true,
	"AT+CGSN": true, "AT+GMI": true, "AT+GMM": true, "AT+GMR": true,
	"AT+QCCID": true, "AT+QCSQ": true, "AT#CCID": true, "AT#RFSTS": true, "AT#PCT": true,
	"AT+UPINCNT": true,
}

// readWith are commands with "=" whose parameters only say what to read
// (compiled on first use, not at every start of ectool).
var readWith = sync.OnceValue(func() []*regexp.Regexp {
	return []*regexp.Regexp{
		regexp.MustCompile(`^AT\+CMEE=[012]$`),                     // error words; restored afterwards
		regexp.MustCompile(`^AT\+CPIN="?[0-9]{4,8}"?$`),            // the PIN, once; never a PUK and new PIN
		regexp.MustCompile(`^AT\+CPINR(="[A-Z0-9 -]*")?$`),         // PIN attempts left
		regexp.MustCompile(`^AT\+QPINC="(SC|P2)"$`),                // Quectel: PIN attempts left
		regexp.MustCompile(`^AT\+CRSM=(176|178|192|242),[0-9,]*$`), // SIM READ BINARY/RECORD, GET RESPONSE, STATUS
		regexp.MustCompile(`^AT\+CGPADDR=[0-9,]+$`),                // addresses of given contexts
		regexp.MustCompile(`^AT\+CGCONTRDP(=[0-9]+)?$`),            // dynamic parameters of a context
	}
})

// ReadOnly reports whether the probe may send cmd: a query (AT+X?), a test
// command (AT+X=?), an action known only to read, AT+CMEE with 0-2, one PIN
// (AT+CPIN with 4 to 8 digits and nothing else) or a read with parameters
// (AT+CRSM=176,...). Never AT&W, +CGDCONT=, +COPS=, +CFUN=, +CGACT= or any
// other setter.
func ReadOnly(cmd string) bool {
	c := strings.ToUpper(strings.TrimSpace(cmd))
	if c == "" || strings.ContainsAny(c, "\r\n;&") { // no chained or &-commands
		return false
	}
	if c == "AT+COPS=?" { // a test command, but it scans every network for minutes and drops service
		return false
	}
	if strings.HasSuffix(c, "?") && (strings.Count(c, "?") == 1 && !strings.Contains(c, "=") || strings.HasSuffix(c, "=?")) {
		return strings.HasPrefix(c, "AT")
	}
	if readExec[c] || strings.HasPrefix(c, "ATI") && len(c) <= 4 {
		return true
	}
	for _, re := range readWith() {
		if re.MatchString(c) {
			return true
		}
	}
	return false
}

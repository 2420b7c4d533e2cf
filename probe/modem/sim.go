package modem

import (
	"errors"
	"fmt"
	"strings"
)

// SIMState is the answer to AT+CPIN? (3GPP TS 27.007 §8.3).
type SIMState struct {
	// Code is what the modem said: READY, SIM PIN, SIM PUK, PH-SIM PIN ...
	Code string `json:"code"`
	// Usable is true when nothing blocks registration (READY, or a PIN2
	// request that only guards PIN2 functions).
	Usable bool   `json:"usable"`
	Words  string `json:"words"`
}

var simStateWords = map[string]string{
	"READY":         "ready (no PIN needed, or already entered)",
	"SIM PIN":       "waiting for the SIM's PIN",
	"SIM PUK":       "blocked: waiting for the PUK (a wrong PIN was entered too often)",
	"PH-SIM PIN":    "locked to another SIM (phone-to-SIM PIN)",
	"PH-FSIM PIN":   "waiting for the phone-to-first-SIM PIN",
	"PH-FSIM PUK":   "waiting for the phone-to-first-SIM PUK",
	"SIM PIN2":      "waiting for PIN2 (guards only PIN2 functions; data is not affected)",
	"SIM PUK2":      "waiting for PUK2 (guards only PIN2 functions; data is not affected)",
	"PH-NET PIN":    "network-locked: the modem takes only another operator's SIMs",
	"PH-NET PUK":    "network-locked: waiting for the network unlock code",
	"PH-NETSUB PIN": "network-subset-locked",
	"PH-SP PIN":     "service-provider-locked",
	"PH-CORP PIN":   "corporate-locked",
}

// ParseCPIN reads the answer to AT+CPIN?: "+CPIN: READY".
func ParseCPIN(lines []string) (SIMState, error) {
	rest, ok := firstWith(lines, "+CPIN:")
	if !ok {
		return SIMState{}, errors.New("no +CPIN: line in the answer")
	}
	code := strings.ToUpper(strings.Join(strings.Fields(unquote(rest)), " "))
	if code == "" {
		return SIMState{}, errors.New("+CPIN: answer without a state")
	}
	st := SIMState{Code: code, Usable: code == "READY" || code == "SIM PIN2" || code == "SIM PUK2"}
	if w, ok := simStateWords[code]; ok {
		st.Words = w
	} else {
		st.Words = fmt.Sprintf("the modem reports %q", code)
	}
	return st, nil
}

// iccidPrefixes are the answer prefixes vendors give an ICCID: +CCID
// (27.007 practice, u-blox, SIMCom), +ICCID (Sierra HL, Cinterion), +QCCID
// (Quectel), !ICCID (Sierra MC/EM), #CCID (Telit), ^ICCID (Huawei).
var iccidPrefixes = []string{"+CCID:", "+ICCID:", "+QCCID:", "!ICCID:", "#CCID:", "^ICCID:"}

// ParseICCID reads an ICCID from the answer to AT+CCID, AT+QCCID,
// AT!ICCID?, AT#CCID or a bare-digits answer. Like ModemManager's
// mm_3gpp_parse_iccid it takes 19 or 20 digits starting with 89 (A-F allowed
// after the issuer, as some operators use them), drops a trailing F filler,
// and undoes the nibble swap of a raw EF_ICCID ("98..." with 20 digits).
func ParseICCID(lines []string) (string, error) {
	for _, l := range lines {
		v := l
		for _, p := range iccidPrefixes {
			if rest, ok := afterPrefix(l, p); ok {
				v = rest
				break
			}
		}
		if id, err := iccid(unquote(v)); err == nil {
			return id, nil
		} else if v != l {
			return "", err
		}
	}
	return "", errors.New("no ICCID in the answer")
}

// ParseCRSMICCID reads EF_ICCID from the answer to AT+CRSM=176,12258,0,0,10
// ("+CRSM: 144,0,"98940310..."": status words 144,0 mean success, the
// data is the ICCID with each pair of digits swapped).
func ParseCRSMICCID(lines []string) (string, error) {
	rest, ok := firstWith(lines, "+CRSM:")
	if !ok {
		return "", errors.New("no +CRSM: line in the answer")
	}
	f := splitFields(rest)
	sw1, ok1 := atoi(f[0])
	if !ok1 || len(f) < 2 {
		return "", fmt.Errorf("+CRSM: %q is not status words and data", rest)
	}
	if sw1 != 144 && sw1 != 145 {
		sw2, _ := atoi(f[1])
		return "", fmt.Errorf("the SIM refused the read (status words %d,%d)", sw1, sw2)
	}
	if len(f) < 3 {
		return "", errors.New("+CRSM: success without data")
	}
	return iccid(unquote(f[2]))
}

func iccid(raw string) (string, error) {
	raw = strings.ToUpper(strings.TrimSpace(raw))
	for i, c := range raw {
		if c >= '0' && c <= '9' || i >= 6 && c >= 'A' && c <= 'F' {
			continue
		}
		return "", fmt.Errorf("%q is not an ICCID (character %q at %d)", raw, c, i)
	}
	if len(raw) < 19 || len(raw) > 20 {
		return "", fmt.Errorf("%q is not an ICCID (%d digits, want 19 or 20)", raw, len(raw))
	}
	switch {
	case strings.HasPrefix(raw, "89"):
	case strings.HasPrefix(raw, "98") && len(raw) == 20:
		b := []byte(raw)
		for i := 0; i+1 < len(b); i += 2 {
			b[i], b[i+1] = b[i+1], b[i]
		}
		raw = string(b)
	default:
		return "", fmt.Errorf("%q is not an ICCID (it does not start with 89, the telecom industry identifier)", raw)
	}
	return strings.TrimSuffix(raw, "F"), nil
}

// PINCount is how many PIN and PUK attempts the SIM has left (-1: the
// modem did not say).
type PINCount struct {
	PIN int `json:"pin"`
	PUK int `json:"puk"`
}

// ParsePINCount reads attempts left from AT+CPINR="SIM PIN" ("+CPINR: SIM
// PIN,3,3"), Quectel's AT+QPINC="SC" ("+QPINC: "SC",3,10"), u-blox's
// AT+UPINCNT ("+UPINCNT: 3,3,10,10": PIN1, PIN2, PUK1, PUK2) or Telit's
// AT#PCT ("#PCT: 3").
func ParsePINCount(lines []string) (PINCount, error) {
	c := PINCount{PIN: -1, PUK: -1}
	for _, rest := range linesWith(lines, "+CPINR:") {
		f := splitFields(rest)
		if len(f) < 2 {
			continue
		}
		n, ok := atoi(f[1])
		if !ok {
			continue
		}
		switch strings.ToUpper(unquote(f[0])) {
		case "SIM PIN":
			c.PIN = n
		case "SIM PUK":
			c.PUK = n
		}
	}
	if rest, ok := firstWith(lines, "+QPINC:"); ok {
		if f := splitFields(rest); len(f) >= 3 && strings.EqualFold(unquote(f[0]), "SC") {
			c.PIN, _ = atoiOr(f[1], -1)
			c.PUK, _ = atoiOr(f[2], -1)
		}
	}
	if rest, ok := firstWith(lines, "+UPINCNT:"); ok {
		if f := splitFields(rest); len(f) >= 3 {
			c.PIN, _ = atoiOr(f[0], -1)
			c.PUK, _ = atoiOr(f[2], -1)
		}
	}
	if rest, ok := firstWith(lines, "#PCT:"); ok {
		c.PIN, _ = atoiOr(rest, -1)
	}
	if c.PIN < 0 && c.PUK < 0 {
		return c, errors.New("no PIN counter in the answer")
	}
	return c, nil
}

func atoiOr(s string, def int) (int, bool) {
	if n, ok := atoi(s); ok {
		return n, true
	}
	return def, false
}

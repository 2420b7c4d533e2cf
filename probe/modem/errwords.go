package modem

import (
	"fmt"
	"strconv"
	"strings"
)

// CMEError is a +CME ERROR (equipment) or +CMS ERROR (messaging) final
// result, in words: with AT+CMEE=2 the modem sends the words itself, with
// AT+CMEE=1 a number that cmeWords translates (3GPP TS 27.007 §9.2,
// TS 27.005 §3.2.5).
type CMEError struct {
	Kind string // "CME" or "CMS"
	Code int    // -1 when the modem sent words only
	Text string // the modem's words, or ours for a number
}

func (e *CMEError) Error() string {
	if e.Code >= 0 {
		return fmt.Sprintf("+%s ERROR %d (%s)", e.Kind, e.Code, e.Text)
	}
	return fmt.Sprintf("+%s ERROR (%s)", e.Kind, e.Text)
}

// Means reports whether e means code: a numeric code, or the words of that
// code when the modem sent words (AT+CMEE=2 hides the number).
func (e *CMEError) Means(code int) bool {
	if e == nil {
		return false
	}
	if e.Code >= 0 {
		return e.Code == code
	}
	w, ok := cmeWords[code]
	if e.Kind == "CMS" {
		w, ok = cmsWords[code]
	}
	return ok && strings.EqualFold(strings.TrimSpace(e.Text), w)
}

// parseCMEError reads a "+CME ERROR: ..." or "+CMS ERROR: ..." final line.
func parseCMEError(line string) (*CMEError, bool) {
	for _, kind := range []string{"CME", "CMS"} {
		rest, ok := afterPrefix(line, "+"+kind+" ERROR:")
		if !ok {
			continue
		}
		e := &CMEError{Kind: kind, Code: -1, Text: unquote(rest)}
		if n, err := strconv.Atoi(strings.TrimSpace(rest)); err == nil {
			e.Code = n
			words := cmeWords
			if kind == "CMS" {
				words = cmsWords
			}
			if w, ok := words[n]; ok {
				e.Text = w
			} else {
				e.Text = "an error code the standard does not list"
			}
		}
		return e, true
	}
	return nil, false
}

// CME error codes the probe reasons about.
const (
	cmeNotAllowed        = 3
	cmeNotSupported      = 4
	cmePHSIMPIN          = 5
	cmeSIMNotInserted    = 10
	cmeSIMPIN            = 11
	cmeSIMPUK            = 12
	cmeSIMFailure        = 13
	cmeSIMBusy           = 14
	cmeSIMWrong          = 15
	cmeIncorrectPassword = 16
)

// cmeWords: +CME ERROR codes of 3GPP TS 27.007 §9.2 (the wording follows
// ModemManager's mm-error-helpers.c).
var cmeWords = map[int]string{
	0: "phone failure", 1: "no connection to phone", 2: "phone-adaptor link reserved",
	3: "operation not allowed", 4: "operation not supported", 5: "PH-SIM PIN required",
	6: "PH-FSIM PIN required", 7: "PH-FSIM PUK required", 10: "SIM not inserted",
	11: "SIM PIN required", 12: "SIM PUK required", 13: "SIM failure", 14: "SIM busy",
	15: "SIM wrong", 16: "incorrect password", 17: "SIM PIN2 required", 18: "SIM PUK2 required",
	20: "memory full", 21: "invalid index", 22: "not found", 23: "memory failure",
	24: "text string too long", 25: "invalid characters in text string",
	26: "dial string too long", 27: "invalid characters in dial string",
	30: "no network service", 31: "network timeout", 32: "network not allowed - emergency calls only",
	40: "network personalization PIN required", 41: "network personalization PUK required",
	42: "network subset personalization PIN required", 43: "network subset personalization PUK required",
	44: "service provider personalization PIN required", 45: "service provider personalization PUK required",
	46: "corporate personalization PIN required", 47: "corporate personalization PUK required",
	48: "hidden key required", 49: "EAP method not supported", 50: "incorrect parameters",
	51: "command disabled", 52: "command aborted", 53: "not attached, restricted",
	54: "not allowed, emergency only", 55: "not allowed, restricted", 56: "fixed dial number only",
	57: "temporarily out of service", 58: "language or alphabet not supported",
	59: "unexpected data value", 60: "system failure", 61: "data missing", 62: "call barred",
	63: "message waiting indication subscription failure", 100: "unknown error",
	103: "illegal MS/UE", 106: "illegal ME", 107: "GPRS services not allowed",
	108: "GPRS and non-GPRS services not allowed", 111: "PLMN not allowed",
	112: "location area not allowed", 113: "roaming not allowed in this location area",
	114: "GPRS services not allowed in this PLMN", 115: "no suitable cells in location area",
	122: "congestion", 126: "insufficient resources", 127: "missing or unknown APN",
	128: "unknown PDP address or type", 129: "user authentication failed",
	130: "activation rejected by GGSN or gateway", 131: "activation rejected, unspecified",
	132: "service option not supported", 133: "requested service option not subscribed",
	134: "service option temporarily out of order", 148: "unspecified GPRS error",
	149: "PDP authentication failure", 150: "invalid mobile class",
}

// cmsWords: +CMS ERROR codes of 3GPP TS 27.005 §3.2.5.
var cmsWords = map[int]string{
	300: "ME failure", 301: "SMS service of ME reserved", 302: "operation not allowed",
	303: "operation not supported", 304: "invalid PDU mode parameter", 305: "invalid text mode parameter",
	310: "SIM not inserted", 311: "SIM PIN required", 312: "PH-SIM PIN required", 313: "SIM failure",
	314: "SIM busy", 315: "SIM wrong", 316: "SIM PUK required", 317: "SIM PIN2 required",
	318: "SIM PUK2 required", 320: "memory failure", 321: "invalid memory index", 322: "memory full",
	330: "SMSC address unknown", 331: "no network service", 332: "network timeout", 500: "unknown error",
}

// rejectCauseWords: EMM causes of 3GPP TS 24.301 §9.9.3.9 (the GMM causes
// of TS 24.008 share the numbers), which +CEREG/+CGREG/+CREG report as
// <reject_cause> with <cause_type> 0.
var rejectCauseWords = map[int]string{
	2: "IMSI unknown in HSS", 3: "illegal UE", 5: "IMEI not accepted", 6: "illegal ME",
	7: "EPS services not allowed", 8: "EPS services and non-EPS services not allowed",
	9: "UE identity cannot be derived by the network", 10: "implicitly detached",
	11: "PLMN not allowed", 12: "tracking area not allowed",
	13: "roaming not allowed in this tracking area", 14: "EPS services not allowed in this PLMN",
	15: "no suitable cells in tracking area", 16: "MSC temporarily not reachable",
	17: "network failure", 18: "CS domain not available", 19: "ESM failure", 20: "MAC failure",
	21: "synch failure", 22: "congestion", 25: "not authorized for this CSG",
	35: "requested service option not authorized in this PLMN",
	39: "CS service temporarily not available", 40: "no EPS bearer context activated",
	42: "severe network failure", 95: "semantically incorrect message",
	96: "invalid mandatory information", 111: "protocol error, unspecified",
}

// RejectCauseWords words a network reject cause (cause type 0), or "" when
// the standard does not list it.
func RejectCauseWords(cause int) string { return rejectCauseWords[cause] }

package modem

import (
	"errors"
	"fmt"
	"strings"
)

// CSQ is the answer to AT+CSQ (3GPP TS 27.007 §8.5).
type CSQ struct {
	RSSI int `json:"rssi"` // 0-31, 99 unknown (Quectel: 100-191, 199)
	BER  int `json:"ber"`  // 0-7, 99 unknown
	// DBm is the RSSI in dBm, nil when unknown.
	DBm *int `json:"dbm"`
}

// ParseCSQ reads "+CSQ: <rssi>,<ber>": rssi 0 is -113 dBm or less, each step
// 2 dB, 31 is -51 dBm or more, 99 not known (and Quectel's TD-SCDMA range
// 100-191 is -116 to -25 dBm, 199 not known).
func ParseCSQ(lines []string) (CSQ, error) {
	rest, ok := firstWith(lines, "+CSQ:")
	if !ok {
		return CSQ{}, errors.New("no +CSQ: line in the answer")
	}
	f := splitFields(rest)
	rssi, ok := atoi(f[0])
	if !ok || len(f) < 2 {
		return CSQ{}, fmt.Errorf("+CSQ: %q is not <rssi>,<ber>", rest)
	}
	ber, ok := atoi(f[1])
	if !ok {
		return CSQ{}, fmt.Errorf("+CSQ: %q is not <rssi>,<ber>", rest)
	}
	c := CSQ{RSSI: rssi, BER: ber}
	switch {
	case rssi >= 0 && rssi <= 31:
		d := -113 + 2*rssi
		c.DBm = &d
	case rssi >= 100 && rssi <= 191:
		d := rssi - 216
		c.DBm = &d
	case rssi == 99 || rssi == 199:
	default:
		return c, fmt.Errorf("+CSQ: rssi %d is out of range", rssi)
	}
	return c, nil
}

// CESQ is the answer to AT+CESQ (3GPP TS 27.007 §8.69) in units.
type CESQ struct {
	RxLev, BER, RSCP, EcN0, RSRQ, RSRP int // raw levels
	// RSSIdBm (GSM), RSRPdBm and RSRQdB (LTE): nil when not measured.
	RSSIdBm *float64 `json:"rssi_dbm,omitempty"`
	RSRPdBm *float64 `json:"rsrp_dbm,omitempty"`
	RSRQdB  *float64 `json:"rsrq_db,omitempty"`
}

// ParseCESQ reads "+CESQ: <rxlev>,<ber>,<rscp>,<ecno>,<rsrq>,<rsrp>"
// with ModemManager's conversions: rxlev 0-63 is -111+n dBm, rsrq 0-34 is
// -20+n/2 dB, rsrp 0-97 is -141+n dBm; 99 and 255 mean not measured.
func ParseCESQ(lines []string) (CESQ, error) {
	rest, ok := firstWith(lines, "+CESQ:")
	if !ok {
		return CESQ{}, errors.New("no +CESQ: line in the answer")
	}
	f := splitFields(rest)
	if len(f) < 6 {
		return CESQ{}, fmt.Errorf("+CESQ: %q has %d values, want 6", rest, len(f))
	}
	var v [6]int
	for i := range v {
		n, ok := atoi(f[i])
		if !ok {
			return CESQ{}, fmt.Errorf("+CESQ: %q is not six numbers", rest)
		}
		v[i] = n
	}
	c := CESQ{RxLev: v[0], BER: v[1], RSCP: v[2], EcN0: v[3], RSRQ: v[4], RSRP: v[5]}
	if c.RxLev >= 0 && c.RxLev <= 63 {
		c.RSSIdBm = ptr(float64(-111 + c.RxLev))
	}
	if c.RSRQ >= 0 && c.RSRQ <= 34 {
		c.RSRQdB = ptr(-20 + float64(c.RSRQ)/2)
	}
	if c.RSRP >= 0 && c.RSRP <= 97 {
		c.RSRPdBm = ptr(float64(-141 + c.RSRP))
	}
	return c, nil
}

// Radio is what a vendor's signal command measured.
type Radio struct {
	Tech    string   `json:"tech,omitempty"` // LTE, CAT-M1, WCDMA, GSM ...
	RSSIdBm *float64 `json:"rssi_dbm,omitempty"`
	RSRPdBm *float64 `json:"rsrp_dbm,omitempty"`
	RSRQdB  *float64 `json:"rsrq_db,omitempty"`
	SINRdB  *float64 `json:"sinr_db,omitempty"`
	// Band, PSState and EMMState come from Sierra's !GSTATUS?.
	Band     string `json:"band,omitempty"`
	PSState  string `json:"ps_state,omitempty"`
	EMMState string `json:"emm_state,omitempty"`
}

func (r Radio) empty() bool { return r.RSSIdBm == nil && r.RSRPdBm == nil && r.RSRQdB == nil }

// ParseQCSQ reads Quectel's AT+QCSQ: `+QCSQ: "LTE",<rssi>,<rsrp>,<sinr>,<rsrq>`
// (CAT-M1 and CAT-NB1 alike; SINR in fifths of a dB above -20 dB),
// `+QCSQ: "WCDMA",<rssi>,<rscp>,<ecio>`, `+QCSQ: "GSM",<rssi>` or
// `+QCSQ: "NOSERVICE"`.
func ParseQCSQ(lines []string) (Radio, error) {
	rest, ok := firstWith(lines, "+QCSQ:")
	if !ok {
		return Radio{}, errors.New("no +QCSQ: line in the answer")
	}
	f := splitFields(rest)
	r := Radio{Tech: strings.ToUpper(unquote(f[0]))}
	num := func(i int) *float64 {
		if i < len(f) {
			if v, ok := atof(f[i]); ok {
				return &v
			}
		}
		return nil
	}
	switch r.Tech {
	case "NOSERVICE":
		return r, errors.New("+QCSQ: NOSERVICE: the modem has no service")
	case "LTE", "CAT-M1", "CAT-NB1", "EMTC", "NBIOT":
		if len(f) < 5 {
			return r, fmt.Errorf("+QCSQ: %q has %d values, want 5 for %s", rest, len(f), r.Tech)
		}
		r.RSSIdBm, r.RSRPdBm, r.RSRQdB = num(1), num(2), num(4)
		if s := num(3); s != nil {
			r.SINRdB = ptr(*s/5 - 20)
		}
	case "WCDMA", "TDSCDMA", "GSM", "CDMA", "HDR":
		r.RSSIdBm = num(1)
	default:
		return r, fmt.Errorf("+QCSQ: unknown service mode %q", r.Tech)
	}
	if r.empty() {
		return r, fmt.Errorf("+QCSQ: %q has no numbers", rest)
	}
	return r, nil
}

// ParseGSTATUS reads Sierra Wireless's AT!GSTATUS?: a block of "Key: value"
// pairs two to a line, separated by tabs (System mode, PS state, LTE band,
// EMM state, PCC RxM RSSI, RSRP (dBm), RSRQ (dB), SINR (dB)). The first
// RSRP is the main antenna's.
func ParseGSTATUS(lines []string) (Radio, error) {
	kv := map[string]string{}
	for _, l := range lines {
		l = strings.TrimPrefix(strings.TrimSpace(l), "!GSTATUS:")
		for _, chunk := range strings.Split(l, "\t") {
			k, v, ok := strings.Cut(chunk, ":")
			k = strings.ToLower(strings.TrimSpace(k))
			if _, seen := kv[k]; ok && k != "" && !seen {
				kv[k] = strings.TrimSpace(v)
			}
		}
	}
	var r Radio
	r.Tech = kv["system mode"]
	r.PSState, r.EMMState, r.Band = kv["ps state"], kv["emm state"], kv["lte band"]
	num := func(k string) *float64 {
		if v, ok := atof(kv[k]); ok {
			return &v
		}
		return nil
	}
	r.RSSIdBm, r.RSRPdBm, r.RSRQdB, r.SINRdB = num("pcc rxm rssi"), num("rsrp (dbm)"), num("rsrq (db)"), num("sinr (db)")
	if r.empty() && r.Tech == "" {
		return r, errors.New("no !GSTATUS fields in the answer")
	}
	return r, nil
}

// ParseUCGED reads u-blox's AT+UCGED?: the short form of SARA-R4
// ("+RSRP: <cell>,<earfcn>,"-085.00"," and "+RSRQ: ..." lines, dBm and dB)
// or the LTE block of mode 2 (a "+UCGED: 2" line, "<rat>,<svc>,<MCC>,<MNC>",
// then "<earfcn>,<Lband>,<ul_BW>,<dl_BW>,<tac>,<LcellId>,<P-CID>,<mTmsi>,
// <mmeGrId>,<mmeCode>,<rsrp>,<rsrq>,..." with 3GPP levels).
func ParseUCGED(lines []string) (Radio, error) {
	r := Radio{}
	if rest, ok := firstWith(lines, "+RSRP:"); ok {
		if f := splitFields(rest); len(f) >= 3 {
			if v, ok := atof(f[2]); ok {
				r.RSRPdBm, r.Tech = &v, "LTE"
			}
		}
	}
	if rest, ok := firstWith(lines, "+RSRQ:"); ok {
		if f := splitFields(rest); len(f) >= 3 {
			if v, ok := atof(f[2]); ok {
				r.RSRQdB, r.Tech = &v, "LTE"
			}
		}
	}
	if !r.empty() {
		return r, nil
	}
	mode, ok := firstWith(lines, "+UCGED:")
	if !ok || strings.TrimSpace(mode) != "2" {
		return r, errors.New("no +RSRP:/+RSRQ: lines or +UCGED: 2 block in the answer")
	}
	for i, l := range lines {
		f := splitFields(l)
		if len(f) < 12 || i == 0 {
			continue
		}
		if v, ok := atoi(f[10]); ok && v >= 0 && v <= 97 {
			r.RSRPdBm = ptr(float64(-141 + v))
		}
		if v, ok := atoi(f[11]); ok && v >= 0 && v <= 34 {
			r.RSRQdB = ptr(-20 + float64(v)/2)
		}
		r.Tech = "LTE"
		break
	}
	if r.empty() {
		return r, errors.New("+UCGED: 2 without an LTE measurement line")
	}
	return r, nil
}

// ParseRFSTS reads Telit's AT#RFSTS on LTE: `#RFSTS: <PLMN>,<EARFCN>,<RSRP>,
// <RSSI>,<RSRQ>,<TAC>,...` (dBm and dB). Its GSM and WCDMA forms differ and
// are not read.
func ParseRFSTS(lines []string) (Radio, error) {
	rest, ok := firstWith(lines, "#RFSTS:")
	if !ok {
		return Radio{}, errors.New("no #RFSTS: line in the answer")
	}
	f := splitFields(rest)
	if len(f) < 6 {
		return Radio{}, fmt.Errorf("#RFSTS: %q is not the LTE form", rest)
	}
	rsrp, ok1 := atof(f[2])
	rssi, ok2 := atof(f[3])
	rsrq, ok3 := atof(f[4])
	if !ok1 || !ok2 || !ok3 || rsrp > -44 || rsrp < -141 || rsrq > 0 {
		return Radio{}, fmt.Errorf("#RFSTS: %q is not the LTE form (PLMN, EARFCN, RSRP, RSSI, RSRQ)", rest)
	}
	return Radio{Tech: "LTE", RSRPdBm: &rsrp, RSSIdBm: &rssi, RSRQdB: &rsrq}, nil
}

func ptr[T any](v T) *T { return &v }

// Ratings of a measurement, best first.
const (
	RatingExcellent = "excellent"
	RatingGood      = "good"
	RatingFair      = "fair"
	RatingPoor      = "poor"
)

// RateRSSI rates an RSSI (the +CSQ value) with the thresholds field
// technicians use: -70 dBm and up excellent, down to -85 good, to -100
// fair, below poor.
func RateRSSI(dbm float64) string { return rate(dbm, -70, -85, -100) }

// RateRSRP rates an LTE RSRP: -80 dBm and up excellent, to -90 good, to
// -100 fair, below poor (cell edge).
func RateRSRP(dbm float64) string { return rate(dbm, -80, -90, -100) }

// RateRSRQ rates an LTE RSRQ: -10 dB and up excellent, to -15 good, to -20
// fair, below poor.
func RateRSRQ(db float64) string { return rate(db, -10, -15, -20) }

func rate(v, excellent, good, fair float64) string {
	switch {
	case v >= excellent:
		return RatingExcellent
	case v >= good:
		return RatingGood
	case v >= fair:
		return RatingFair
	}
	return RatingPoor
}

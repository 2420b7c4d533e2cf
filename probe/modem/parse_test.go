package modem

import (
	"fmt"
	"strings"
	"testing"
)

// lines splits a verbatim answer at CR/LF as the session does.
func lines(s string) []string {
	var out []string
	for _, l := range strings.FieldsFunc(s, func(r rune) bool { return r == '\r' || r == '\n' }) {
		if strings.TrimSpace(l) != "" {
			out = append(out, strings.TrimSpace(l))
		}
	}
	return out
}

func fp(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%g", *p)
}

func TestParseCPIN(t *testing.T) {
	for _, c := range []struct{ in, code, err string }{
		{"+CPIN: READY", "READY", ""},
		{"+CPIN: SIM PIN", "SIM PIN", ""},
		{"+CPIN:SIM PUK", "SIM PUK", ""},
		{`+CPIN: "SIM PIN2"`, "SIM PIN2", ""},
		{"+CPIN: PH-NET PIN", "PH-NET PIN", ""},
		{"+CPIN: ", "", "without a state"},
		{"READY", "", "no +CPIN"},
	} {
		st, err := ParseCPIN(lines(c.in))
		if errText(err) != c.err && !strings.Contains(errText(err), c.err) || c.err == "" && err != nil {
			t.Errorf("%q: error %v, want %q", c.in, err, c.err)
		}
		if st.Code != c.code {
			t.Errorf("%q: code %q, want %q", c.in, st.Code, c.code)
		}
	}
	if st, _ := ParseCPIN([]string{"+CPIN: SIM PIN2"}); !st.Usable {
		t.Error("SIM PIN2 guards only PIN2 functions: usable")
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestParseICCIDOfEveryVendor(t *testing.T) {
	const id = "89001010000123456782"
	for _, c := range []struct{ in, want, err string }{
		{"+CCID: 89001010000123456782", id, ""},
		{`+CCID: "89001010000123456782"`, id, ""},
		{"+ICCID: 89001010000123456782", id, ""},
		{"+QCCID: 89860318760230473301", "89860318760230473301", ""},
		{"!ICCID: 89001010000123456782", id, ""},
		{"#CCID: 89001010000123456782", id, ""},
		{"89001010000123456782", id, ""},
		{"+CCID: 8900101000012345678F", "8900101000012345678", ""},   // 19 digits and an F filler
		{"+QCCID: 898600B0101550000001", "898600B0101550000001", ""}, // hex in the operator part
		{"+CCID: 98000101001032547628", id, ""},                      // raw EF_ICCID, digits swapped
		{"+CCID: 1234567890123456789", "", "does not start with 89"},
		{"+CCID: 8900101", "", "want 19 or 20"},
		{"+CCID: 89001010000X23456782", "", "not an ICCID"},
		{"OK", "", "no ICCID"},
	} {
		got, err := ParseICCID(lines(c.in))
		if got != c.want || !strings.Contains(errText(err), c.err) || c.err == "" && err != nil {
			t.Errorf("%q: %q, %v; want %q, %q", c.in, got, err, c.want, c.err)
		}
	}
}

func TestParseCRSMICCID(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{`+CRSM: 144,0,"98000101001032547628"`, "89001010000123456782", ""},
		{`+CRSM: 144,0,"981010000000214365F7"`, "8901010000001234567", ""},
		{`+CRSM: 148,4`, "", "status words 148,4"},
		{`+CRSM: 144,0`, "", "without data"},
		{`+CRSM: x`, "", "not status words"},
	} {
		got, err := ParseCRSMICCID(lines(c.in))
		if got != c.want || !strings.Contains(errText(err), c.err) || c.err == "" && err != nil {
			t.Errorf("%q: %q, %v; want %q, %q", c.in, got, err, c.want, c.err)
		}
	}
}

func TestParsePINCount(t *testing.T) {
	for _, c := range []struct {
		in       string
		pin, puk int
		err      bool
	}{
		{"+CPINR: SIM PIN,3,3\r\n+CPINR: SIM PUK,10,10\r\n+CPINR: SIM PIN2,3,3", 3, 10, false},
		{`+CPINR: "SIM PIN",1,3`, 1, -1, false},
		{`+QPINC: "SC",2,10`, 2, 10, false},
		{"+UPINCNT: 3,3,10,10", 3, 10, false},
		{"#PCT: 1", 1, -1, false},
		{"+CPINR: SIM PIN2,3,3", -1, -1, true},
		{"", -1, -1, true},
	} {
		got, err := ParsePINCount(lines(c.in))
		if got.PIN != c.pin || got.PUK != c.puk || (err != nil) != c.err {
			t.Errorf("%q: %+v, %v; want pin %d puk %d", c.in, got, err, c.pin, c.puk)
		}
	}
}

func TestParseCSQ(t *testing.T) {
	for _, c := range []struct {
		in  string
		dbm string
		err bool
	}{
		{"+CSQ: 21,99", "-71", false},
		{"+CSQ: 0,0", "-113", false},
		{"+CSQ: 31,99", "-51", false},
		{"+CSQ: 99,99", "-", false},
		{"+CSQ: 100,99", "-116", false}, // Quectel's TD-SCDMA range
		{"+CSQ: 199,99", "-", false},
		{"+CSQ:  7 , 3", "-99", false},
		{"+CSQ: 50,99", "-", true},
		{"+CSQ: 21", "-", true},
		{"+CSQ: a,b", "-", true},
		{"+CESQ: 1,2", "-", true},
	} {
		q, err := ParseCSQ(lines(c.in))
		got := "-"
		if q.DBm != nil {
			got = fmt.Sprint(*q.DBm)
		}
		if got != c.dbm || (err != nil) != c.err {
			t.Errorf("%q: %s dBm, %v; want %s", c.in, got, err, c.dbm)
		}
	}
}

func TestParseCESQ(t *testing.T) {
	for _, c := range []struct {
		in, rsrp, rsrq, rssi string
		err                  bool
	}{
		{"+CESQ: 99,99,255,255,20,80", "-61", "-10", "-", false}, // u-blox's example
		{"+CESQ: 99,99,255,255,20,56", "-85", "-10", "-", false},
		{"+CESQ: 35,0,255,255,255,255", "-", "-", "-76", false},
		{"+CESQ: 99,99,255,255,255,255", "-", "-", "-", false},
		{"+CESQ: 99,99,255,255,0,0", "-141", "-20", "-", false},
		{"+CESQ: 99,99,255,255,20", "-", "-", "-", true},
		{"+CESQ: 99,99,255,255,x,80", "-", "-", "-", true},
	} {
		q, err := ParseCESQ(lines(c.in))
		if fp(q.RSRPdBm) != c.rsrp || fp(q.RSRQdB) != c.rsrq || fp(q.RSSIdBm) != c.rssi || (err != nil) != c.err {
			t.Errorf("%q: rsrp %s rsrq %s rssi %s, %v", c.in, fp(q.RSRPdBm), fp(q.RSRQdB), fp(q.RSSIdBm), err)
		}
	}
}

func TestParseVendorSignalCommands(t *testing.T) {
	gstatus := "!GSTATUS: \r\nCurrent Time:  4597\t\tTemperature: 34\r\nSystem mode:   LTE        \tPS state:    Attached     \r\n" +
		"LTE band:      B3     \t\tLTE bw:      20 MHz  \r\nEMM state:     Registered     \tNormal Service \r\n" +
		"PCC RxM RSSI:  -65\t\tRSRP (dBm):  -95\r\nPCC RxD RSSI:  -70\t\tRSRP (dBm):  -101\r\nRSRQ (dB):     -11.1\t\tCell ID:     01A2B3C4 (27407300)\r\nSINR (dB):      9.8"
	for _, c := range []struct {
		name  string
		parse func([]string) (Radio, error)
		in    string
		want  string // tech rssi rsrp rsrq sinr
		err   string
	}{
		{"qcsq lte", ParseQCSQ, `+QCSQ: "LTE",-52,-81,195,-10`, "LTE -52 -81 -10 19", ""},
		{"qcsq cat-m1", ParseQCSQ, `+QCSQ: "CAT-M1",-68,-99,80,-13`, "CAT-M1 -68 -99 -13 -4", ""},
		{"qcsq gsm", ParseQCSQ, `+QCSQ: "GSM",-75`, "GSM -75 - - -", ""},
		{"qcsq noservice", ParseQCSQ, `+QCSQ: "NOSERVICE"`, "NOSERVICE - - - -", "no service"},
		{"qcsq short", ParseQCSQ, `+QCSQ: "LTE",-52`, "LTE - - - -", "want 5"},
		{"gstatus", ParseGSTATUS, gstatus, "LTE -65 -95 -11.1 9.8", ""},
		{"gstatus empty", ParseGSTATUS, "OK", " - - - -", "no !GSTATUS"},
		{"ucged r4", ParseUCGED, "+RSRP: 162,6300,\"-092.00\",\r\n+RSRQ: 162,6300,\"-12.00\",", "LTE - -92 -12 -", ""},
		{"ucged mode 2", ParseUCGED, "+UCGED: 2\r\n6,4,001,01\r\n6300,3,50,50,1a2b,1a2b3c4,162,00000000,ffff,ff,56,20,255,255,255,255,255,255,255,255,255,255", "LTE - -85 -10 -", ""},
		{"ucged nothing", ParseUCGED, "+UCGED: 5", " - - - -", "no +RSRP"},
		{"rfsts lte", ParseRFSTS, `#RFSTS: "001 01",6300,-88,-65,-11,1A2B,FF,,128,19,0,01A2B3C,"001010123456789","",3,20`, "LTE -65 -88 -11 -", ""},
		{"rfsts wcdma", ParseRFSTS, `#RFSTS: "001 01",10638,12,-8,-70,-62,1A2B,00,-128,10,19,1,01A2B3C,"001010123456789","Lab",3,1`, " - - - -", "not the LTE form"},
	} {
		r, err := c.parse(lines(c.in))
		got := fmt.Sprintf("%s %s %s %s %s", r.Tech, fp(r.RSSIdBm), fp(r.RSRPdBm), fp(r.RSRQdB), fp(r.SINRdB))
		if got != c.want || !strings.Contains(errText(err), c.err) || c.err == "" && err != nil {
			t.Errorf("%s: %q, %v; want %q, %q", c.name, got, err, c.want, c.err)
		}
	}
}

// Registration answers, solicited and unsolicited, many from
// ModemManager's test-modem-helpers.c (test_creg_*, test_cgreg_*,
// test_cereg_*): the read answer wins over a URC of the same name.
func TestParseRegistrationForms(t *testing.T) {
	for _, c := range []struct {
		parse func([]string) (Registration, error)
		in    string
		want  string // n stat area cell act cause
	}{
		{ParseCREG, "+CREG: 1,3", "1 3   -1 -1"},
		{ParseCREG, "+CREG: 3", "-1 3   -1 -1"},
		{ParseCREG, "+CREG: 1,1,84CD,00D30173", "1 1 84CD 00D30173 -1 -1"},
		{ParseCREG, "+CREG: 1,84CD,00D30156", "-1 1 84CD 00D30156 -1 -1"},
		{ParseCREG, `+CREG: 2,1,"CE00","01CEAD8F"`, "2 1 CE00 01CEAD8F -1 -1"},
		{ParseCREG, `+CREG: 1,"CE00","00005449"`, "-1 1 CE00 00005449 -1 -1"},
		{ParseCREG, "+CREG: 2,0,00,0", "2 0 00 0 -1 -1"},
		{ParseCREG, "+CREG: 2,,", "-1 2   -1 -1"},
		{ParseCREG, `+CREG:002,001,"18d8","ffff"`, "2 1 18d8 ffff -1 -1"},
		{ParseCREG, "+CREG: 1,0001,0010,0", "-1 1 0001 0010 0 -1"},
		{ParseCREG, `+CREG: 2,6,"8B37","0A265185",7`, "2 6 8B37 0A265185 7 -1"},
		{ParseCREG, `+CREG: 6,"8B37","0A265185",7`, "-1 6 8B37 0A265185 7 -1"},
		{ParseCGREG, `+CGREG: 2,1,"8BE3","00002B5D",3`, "2 1 8BE3 00002B5D 3 -1"},
		{ParseCGREG, `+CGREG: 1,"8BE3","00002B5D",3`, "-1 1 8BE3 00002B5D 3 -1"},
		{ParseCGREG, `+CGREG: 2,1,"61EF","7D58A3",2,"14"`, "2 1 61EF 7D58A3 2 -1"}, // u-blox, with RAC
		{ParseCGREG, `+CGREG: 3,3,"61EF","7D58A3",2,"14",0,14`, "3 3 61EF 7D58A3 2 14"},
		{ParseCEREG, "+CEREG: 1,3", "1 3   -1 -1"},
		{ParseCEREG, "+CEREG: 2,1, 1F00, 79D903 ,7", "2 1 1F00 79D903 7 -1"},
		{ParseCEREG, "+CEREG: 2,1, 1F00, 20 ,79D903 ,7", "2 1 1F00 79D903 7 -1"}, // with RAC
		{ParseCEREG, `+CEREG: 3,3,"00C3","0000A13B",7,0,15`, "3 3 00C3 0000A13B 7 15"},
		{ParseCEREG, `+CEREG: 3,3,"00C3","0000A13B",7,1,15`, "3 3 00C3 0000A13B 7 -1"}, // vendor cause type
		{ParseCEREG, "+CEREG: 1,\"1A2B\",\"01A2B3C4\",7\r\n+CEREG: 2,5,\"1A2B\",\"01A2B3C4\",9", "2 5 1A2B 01A2B3C4 9 -1"},
		{ParseCEREG, "+CEREG: 2,1,\"1A2B\",\"01A2B3C4\",7\r\n+CEREG: 0", "2 1 1A2B 01A2B3C4 7 -1"},
	} {
		r, err := c.parse(lines(c.in))
		got := fmt.Sprintf("%d %d %s %s %d %d", r.N, r.Stat, r.Area, r.CellID, r.AcT, r.RejectCause)
		if err != nil || got != c.want {
			t.Errorf("%q: %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "+CEREG:", `+CEREG: "x"`, "+CREG: 1"} {
		if _, err := ParseCEREG(lines(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	r, _ := ParseCEREG([]string{`+CEREG: 3,3,"00C3","0000A13B",7,0,7`})
	if r.Registered() || r.State != "registration denied" || r.RejectWords != "EPS services not allowed" || r.Tech != "LTE" {
		t.Errorf("denied: %+v", r)
	}
	if r, _ := ParseCEREG([]string{"+CEREG: 0,5"}); !r.Registered() || !r.Roaming() {
		t.Errorf("roaming: %+v", r)
	}
}

func TestParseCOPS(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string // mode format name act
		err  bool
	}{
		{`+COPS: 0,0,"Lab Telecom",7`, "0 0 Lab Telecom 7", false},
		{`+COPS: 1,0,"CHINA MOBILE"`, "1 0 CHINA MOBILE -1", false},
		{`+COPS: 1,2,"46000",7`, "1 2 46000 7", false},
		{`+COPS: 0`, "0 -1  -1", false},
		{`+COPS: 2`, "2 -1  -1", false},
		{`+COPS: (1,"T-Mobile","TMO","31026",0),,(0,1,3),(0-2)`, "0 0  0", true},
		{`+COPS: x`, "0 -1  -1", true},
	} {
		o, err := ParseCOPS(lines(c.in))
		got := fmt.Sprintf("%d %d %s %d", o.Mode, o.Format, o.Name, o.AcT)
		if got != c.want || (err != nil) != c.err {
			t.Errorf("%q: %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestParsePDPAnswers(t *testing.T) {
	cs, err := ParseCGDCONT(lines("+CGDCONT: 2,\"IPV4V6\",\"ims\",\"0.0.0.0,0:0:0:0:0:0:0:0\",0,0,0,0\r\n+CGDCONT: 1,\"IP\",\"internet\",\"0.0.0.0\",0,0,0,0\r\n+CGDCONT: 3,\"IPV6\",\"\",\"\",0,0"))
	if err != nil || len(cs) != 3 || cs[0].CID != 1 || cs[0].APN != "internet" || cs[1].APN != "ims" || cs[1].Type != "IPV4V6" || cs[2].APN != "" {
		t.Errorf("cgdcont: %+v %v", cs, err)
	}
	if _, err := ParseCGDCONT([]string{"+CGDCONT: x"}); err == nil {
		t.Error("cgdcont garbage: no error")
	}
	act, err := ParseCGACT(lines("+CGACT: 1,1\r\n+CGACT: 2,0"))
	if err != nil || !act[1] || act[2] {
		t.Errorf("cgact: %v %v", act, err)
	}
	if _, err := ParseCGACT([]string{"+CGACT: 1"}); err == nil {
		t.Error("cgact truncated: no error")
	}
	for _, c := range []struct {
		in   string
		want string
		err  bool
	}{
		{`+CGPADDR: 1,"10.64.3.7"`, "[10.64.3.7]", false},
		{`+CGPADDR: 1,10.64.3.7`, "[10.64.3.7]", false},
		{`+CGPADDR: 1,"0.0.0.0"`, "[]", false},
		{`+CGPADDR: 1`, "[]", false},
		{`+CGPADDR: 1,""`, "[]", false},
		{`+CGPADDR: 1,"10.1.2.3","32.1.13.184.0.0.0.0.0.0.0.0.0.0.0.1"`, "[10.1.2.3 2001:db8::1]", false},
		{`+CGPADDR: 2,"0.0.0.0","0:0:0:0:0:0:0:0"`, "[]", false},
		{`+CGPADDR: 1,"10.1.2.3.255.255.255.0"`, "[10.1.2.3]", false},
		{`+CGPADDR: 1,"not-an-ip"`, "", true},
	} {
		got, err := ParseCGPADDR(lines(c.in))
		s := ""
		for _, a := range got {
			s = fmt.Sprint(a)
		}
		if (err != nil) != c.err || !c.err && s != c.want {
			t.Errorf("%q: %s, %v; want %s", c.in, s, err, c.want)
		}
	}
	for in, want := range map[string]string{
		`+CEER: "Missing or unknown APN"`:          "Missing or unknown APN",
		`+CEER: No report available`:               "No report available",
		`+CEER: "ESM",27,"Missing or unknown APN"`: "ESM, 27, Missing or unknown APN",
	} {
		if got, _ := ParseCEER(lines(in)); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

func TestCMEErrorsInWords(t *testing.T) {
	for _, c := range []struct {
		in, want string
		code     int
	}{
		{"+CME ERROR: 10", "SIM not inserted", 10},
		{"+CME ERROR: SIM not inserted", "SIM not inserted", 10},
		{"+CME ERROR: 16", "incorrect password", 16},
		{"+CME ERROR: incorrect password", "incorrect password", 16},
		{"+CMS ERROR: 310", "SIM not inserted", 310},
		{"+CME ERROR: 9999", "an error code the standard does not list", -2},
	} {
		e, ok := parseCMEError(c.in)
		if !ok || e.Text != c.want || c.code >= 0 && !e.Means(c.code) {
			t.Errorf("%q: %+v, want %q meaning %d", c.in, e, c.want, c.code)
		}
	}
	if _, ok := parseCMEError("ERROR"); ok {
		t.Error("plain ERROR is not a +CME ERROR")
	}
}

func TestSignalRatings(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{RateRSSI(-71), RatingGood}, {RateRSSI(-70), RatingExcellent}, {RateRSSI(-101), RatingPoor},
		{RateRSRP(-85), RatingGood}, {RateRSRP(-100), RatingFair}, {RateRSRP(-112), RatingPoor},
		{RateRSRQ(-10), RatingExcellent}, {RateRSRQ(-16), RatingFair},
	} {
		if c.got != c.want {
			t.Errorf("rating %s, want %s", c.got, c.want)
		}
	}
}

func TestSameAPN(t *testing.T) {
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{"m2m.example", "M2M.Example", true},
		{"m2m.example.mnc001.mcc001.gprs", "m2m.example", true},
		{"internet", "m2m.example", false},
		{"", "m2m.example", false},
	} {
		if SameAPN(c.a, c.b) != c.same {
			t.Errorf("SameAPN(%q, %q) = %v", c.a, c.b, !c.same)
		}
	}
}

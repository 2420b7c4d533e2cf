package modem

import (
	"fmt"
	"strings"
)

// netState is what the radio and network give in the scenario.
type netState struct {
	sim      bool   // a SIM is in the slot
	stat     int    // +CEREG <stat>
	csq      int    // +CSQ <rssi>
	rsrp     int    // dBm (0: nothing measured)
	rsrq     int    // dB
	operator string // "" when not registered
	ip       string // the data context's address, "" for none
	reject   int    // EMM cause with +CEREG n=3, -1 none
	ceer     string
}

func (m *Modem) net() netState {
	m.mu.Lock()
	unlocked := m.unlocked
	m.mu.Unlock()
	ok := netState{sim: true, stat: 1, csq: 21, rsrp: -85, rsrq: -10, operator: "Lab Telecom", ip: "10.64.3.7", reject: -1, ceer: "No report available"}
	switch m.cfg.Scenario {
	case "wrong-apn":
		ok.ip, ok.ceer = "", "Missing or unknown APN"
	case "no-sim":
		return netState{csq: 19, rsrp: -88, rsrq: -11, reject: -1, ceer: "No report available"}
	case "pin-locked":
		if !unlocked {
			return netState{sim: true, csq: 21, rsrp: -85, rsrq: -10, reject: -1, ceer: "No report available"}
		}
	case "no-signal":
		return netState{sim: true, stat: 2, csq: 99, reject: -1, ceer: "No report available"}
	case "registration-denied":
		return netState{sim: true, stat: 3, csq: 18, rsrp: -88, rsrq: -11, reject: 7, ceer: "EPS services not allowed"}
	case "roaming":
		ok.stat, ok.csq, ok.rsrp, ok.rsrq, ok.operator, ok.ip = 5, 17, -92, -12, "Foreign Lab", "10.200.1.9"
	}
	return ok
}

// vendor is what a dialect answers to the identity commands and which
// standard commands it lacks (answering ERROR, so its own must stand in).
type vendor struct {
	manufacturer, model, revision string
	lacks                         []string
	own                           []string
}

var vendors = map[string]vendor{
	"generic": {"ectool lab", "LM-1", "LM1.0.0", nil, nil},
	"quectel": {"Quectel", "EC25", "EC25EFAR06A06M4G", []string{"AT+CCID", "AT+CESQ", "AT+CPINR"}, []string{`AT+QCCID`, "AT+QCSQ", `AT+QPINC="SC"`}},
	"sierra":  {"Sierra Wireless, Incorporated", "MC7455", "SWI9X30C_02.33.03.00", []string{"AT+CCID", "AT+CESQ"}, []string{"AT!ICCID?", "AT!GSTATUS?"}},
	"ublox":   {"u-blox", "SARA-R410M-02B", "L0.0.00.00.05.08", []string{"AT+CESQ"}, []string{"AT+UCGED?", "AT+UPINCNT"}},
	"telit":   {"Telit", "LE910C1-EU", "25.21.660", []string{"AT+CCID", "AT+CESQ"}, []string{"AT#CCID", "AT#RFSTS", "AT#PCT"}},
}

// answer is the modem's reply to one command: information lines and the
// final result code.
func (s *session) answer(line string) ([]string, string) {
	cmd := strings.ToUpper(line)
	v := vendors[s.m.cfg.Dialect]
	if known(cmd, v.lacks) || strings.HasPrefix(cmd, "AT+CPINR") && known("AT+CPINR", v.lacks) {
		return nil, "ERROR"
	}
	isVendorCmd := false
	for _, vs := range vendors {
		isVendorCmd = isVendorCmd || known(cmd, vs.own)
	}
	if isVendorCmd && !known(cmd, v.own) {
		return nil, "ERROR"
	}
	if l, f, ok := s.basic(cmd, v); ok {
		return l, f
	}
	if l, f, ok := s.simAnswer(line, cmd); ok {
		return l, f
	}
	if l, f, ok := s.radioAnswer(cmd); ok {
		return l, f
	}
	if l, f, ok := s.dataAnswer(cmd); ok {
		return l, f
	}
	return nil, "ERROR"
}

func (s *session) basic(cmd string, v vendor) ([]string, string, bool) {
	switch {
	case cmd == "AT":
	case cmd == "ATE0" || cmd == "ATE":
		s.echo = false
	case cmd == "ATE1":
		s.echo = true
	case cmd == "ATI":
		return []string{v.manufacturer, v.model, "Revision: " + v.revision}, "OK", true
	case cmd == "AT+CGMI" || cmd == "AT+GMI":
		return []string{v.manufacturer}, "OK", true
	case cmd == "AT+CGMM" || cmd == "AT+GMM":
		return []string{v.model}, "OK", true
	case cmd == "AT+CGMR" || cmd == "AT+GMR":
		return []string{v.revision}, "OK", true
	case cmd == "AT+CMEE?":
		return []string{fmt.Sprintf("+CMEE: %d", s.cmee)}, "OK", true
	case len(cmd) == 9 && strings.HasPrefix(cmd, "AT+CMEE=") && cmd[8] >= '0' && cmd[8] <= '2':
		s.cmee = int(cmd[8] - '0')
	case cmd == "AT+CFUN?":
		return []string{"+CFUN: 1"}, "OK", true
	default:
		return nil, "", false
	}
	return nil, "OK", true
}

// cme is an equipment error as the session's +CMEE mode words it.
func (s *session) cme(code int, words string) string {
	switch s.cmee {
	case 1:
		return fmt.Sprintf("+CME ERROR: %d", code)
	case 2:
		return "+CME ERROR: " + words
	}
	return "ERROR"
}

func (s *session) simAnswer(line, cmd string) ([]string, string, bool) {
	m := s.m
	st := m.net()
	m.mu.Lock()
	unlocked, pinLeft, pukLeft := m.unlocked, m.pinLeft, m.pukLeft
	m.mu.Unlock()
	needsSIM := strings.HasPrefix(cmd, "AT+CPIN") || strings.HasPrefix(cmd, "AT+QPINC") || cmd == "AT+UPINCNT" ||
		cmd == "AT#PCT" || strings.Contains(cmd, "CCID") || cmd == "AT+CIMI" || strings.HasPrefix(cmd, "AT+CRSM")
	if !needsSIM {
		return nil, "", false
	}
	if !st.sim {
		return nil, s.cme(10, "SIM not inserted"), true
	}
	state := "READY"
	switch {
	case pinLeft == 0:
		state = "SIM PUK"
	case !unlocked:
		state = "SIM PIN"
	}
	switch {
	case cmd == "AT+CPIN?":
		return []string{"+CPIN: " + state}, "OK", true
	case strings.HasPrefix(cmd, "AT+CPIN="):
		return s.enterPIN(line, state)
	case strings.HasPrefix(cmd, "AT+CPINR"):
		return []string{fmt.Sprintf("+CPINR: SIM PIN,%d,3", pinLeft), fmt.Sprintf("+CPINR: SIM PUK,%d,10", pukLeft)}, "OK", true
	case cmd == `AT+QPINC="SC"`:
		return []string{fmt.Sprintf(`+QPINC: "SC",%d,%d`, pinLeft, pukLeft)}, "OK", true
	case cmd == "AT+UPINCNT":
		return []string{fmt.Sprintf("+UPINCNT: %d,3,%d,10", pinLeft, pukLeft)}, "OK", true
	case cmd == "AT#PCT":
		return []string{fmt.Sprintf("#PCT: %d", pinLeft)}, "OK", true
	case cmd == "AT+CCID":
		return []string{"+CCID: " + m.iccid}, "OK", true
	case cmd == "AT+QCCID":
		return []string{"+QCCID: " + m.iccid}, "OK", true
	case cmd == "AT!ICCID?":
		return []string{"!ICCID: " + m.iccid}, "OK", true
	case cmd == "AT#CCID":
		return []string{"#CCID: " + m.iccid}, "OK", true
	case cmd == "AT+CRSM=176,12258,0,0,10":
		return []string{fmt.Sprintf(`+CRSM: 144,0,"%s"`, swapNibbles(m.iccid))}, "OK", true
	case state != "READY":
		return nil, s.cme(11, "SIM PIN required"), true
	case cmd == "AT+CIMI":
		return []string{m.imsi}, "OK", true
	}
	return nil, "ERROR", true
}

// enterPIN checks a PIN: right unlocks, wrong costs an attempt, the third
// wrong one blocks the SIM until its PUK (which the lab never takes).
func (s *session) enterPIN(line, state string) ([]string, string, bool) {
	m := s.m
	pin := strings.Trim(strings.TrimPrefix(strings.ToUpper(line), "AT+CPIN="), `"`)
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case state == "READY":
		return nil, s.cme(3, "operation not allowed"), true
	case state == "SIM PUK":
		return nil, s.cme(12, "SIM PUK required"), true
	case pin == m.cfg.PIN:
		m.unlocked, m.pinLeft = true, 3
		return nil, "OK", true
	}
	m.pinLeft--
	return nil, s.cme(16, "incorrect password"), true
}

func swapNibbles(id string) string {
	b := []byte(id)
	if len(b)%2 == 1 {
		b = append(b, 'F')
	}
	for i := 0; i+1 < len(b); i += 2 {
		b[i], b[i+1] = b[i+1], b[i]
	}
	return string(b)
}

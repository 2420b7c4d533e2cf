package modem

import (
	"fmt"
	"strings"
)

func (s *session) radioAnswer(cmd string) ([]string, string, bool) {
	st := s.m.net()
	heard := st.rsrp != 0
	switch cmd {
	case "AT+CSQ":
		return []string{fmt.Sprintf("+CSQ: %d,99", st.csq)}, "OK", true
	case "AT+CESQ":
		rsrq, rsrp := 255, 255
		if heard {
			rsrq, rsrp = (st.rsrq+20)*2, st.rsrp+141
		}
		return []string{fmt.Sprintf("+CESQ: 99,99,255,255,%d,%d", rsrq, rsrp)}, "OK", true
	case "AT+QCSQ":
		if !heard {
			return []string{`+QCSQ: "NOSERVICE"`}, "OK", true
		}
		return []string{fmt.Sprintf(`+QCSQ: "LTE",%d,%d,150,%d`, -113+2*st.csq, st.rsrp, st.rsrq)}, "OK", true
	case "AT!GSTATUS?":
		return s.gstatus(st), "OK", true
	case "AT+UCGED?":
		if !heard {
			return nil, s.cme(100, "unknown error"), true
		}
		return []string{fmt.Sprintf(`+RSRP: 162,6300,"%07.2f",`, float64(st.rsrp)), fmt.Sprintf(`+RSRQ: 162,6300,"%06.2f",`, float64(st.rsrq))}, "OK", true
	case "AT#RFSTS":
		if !heard {
			return nil, s.cme(100, "unknown error"), true
		}
		return []string{fmt.Sprintf(`#RFSTS: "001 01",6300,%d,%d,%d,1A2B,FF,,128,19,0,01A2B3C,"%s","%s",3,20`,
			st.rsrp, -113+2*st.csq, st.rsrq, s.m.imsi, st.operator)}, "OK", true
	case "AT+CEREG?", "AT+CGREG?", "AT+CREG?":
		return []string{s.registration(strings.TrimSuffix(strings.TrimPrefix(cmd, "AT"), "?"), st)}, "OK", true
	case "AT+COPS?":
		if st.operator == "" {
			return []string{"+COPS: 0"}, "OK", true
		}
		return []string{fmt.Sprintf(`+COPS: 0,0,"%s",7`, st.operator)}, "OK", true
	}
	return nil, "", false
}

// registration answers a +CxREG read: <n>=2 with the location when
// registered, <n>=3 with the reject cause when denied (as if the gateway
// had asked for causes).
func (s *session) registration(name string, st netState) string {
	switch {
	case st.stat == 1 || st.stat == 5:
		return fmt.Sprintf(`%s: 2,%d,"1A2B","01A2B3C4",7`, name, st.stat)
	case st.stat == 3 && st.reject >= 0:
		return fmt.Sprintf(`%s: 3,3,"1A2B","01A2B3C4",7,0,%d`, name, st.reject)
	}
	return fmt.Sprintf("%s: 2,%d", name, st.stat)
}

// gstatus is Sierra's status block, tab-separated as the MC74xx prints it.
func (s *session) gstatus(st netState) []string {
	mode, ps, emm, rsrp, rsrq, rssi := "LTE", "Attached", "Registered     \tNormal Service", fmt.Sprint(st.rsrp), fmt.Sprintf("%.1f", float64(st.rsrq)), fmt.Sprint(-113+2*st.csq)
	if st.rsrp == 0 {
		mode, ps, emm, rsrp, rsrq, rssi = "NO SERVICE", "Not attached", "Deregistered   \tNo Service", "--", "--", "--"
	}
	return []string{
		"!GSTATUS: ",
		"Current Time:  4597\t\tTemperature: 34",
		"Reset Counter: 1\t\tMode:        ONLINE",
		"System mode:   " + mode + "\tPS state:    " + ps,
		"LTE band:      B3\t\tLTE bw:      20 MHz",
		"LTE Rx chan:   1300\t\tLTE Tx chan: 19300",
		"EMM state:     " + emm,
		"RRC state:     RRC Idle",
		"PCC RxM RSSI:  " + rssi + "\t\tRSRP (dBm):  " + rsrp,
		"PCC RxD RSSI:  " + rssi + "\t\tRSRP (dBm):  " + rsrp,
		"Tx Power:      --\t\tTAC:         1A2B (6699)",
		"RSRQ (dB):     " + rsrq + "\t\tCell ID:     01A2B3C4 (27407300)",
		"SINR (dB):     10.0",
	}
}

func (s *session) dataAnswer(cmd string) ([]string, string, bool) {
	st := s.m.net()
	apn := s.m.cfg.APN()
	quectel := s.m.cfg.Dialect == "quectel"
	active := 0
	if st.ip != "" {
		active = 1
	}
	switch cmd {
	case "AT+CGDCONT?":
		l := []string{fmt.Sprintf(`+CGDCONT: 1,"IP","%s","0.0.0.0",0,0,0,0`, apn)}
		if quectel { // Quectel firmware ships an IMS context beside the data one
			l = append(l, `+CGDCONT: 2,"IPV4V6","ims","0.0.0.0,0:0:0:0:0:0:0:0",0,0,0,0`)
		}
		return l, "OK", true
	case "AT+CGACT?":
		l := []string{fmt.Sprintf("+CGACT: 1,%d", active)}
		if quectel {
			l = append(l, "+CGACT: 2,0")
		}
		return l, "OK", true
	case "AT+CGPADDR":
		return s.addresses(st, quectel), "OK", true
	case "AT+CEER":
		return []string{fmt.Sprintf(`+CEER: "%s"`, st.ceer)}, "OK", true
	}
	return nil, "", false
}

// addresses answers AT+CGPADDR in each vendor's way of saying "none".
func (s *session) addresses(st netState, quectel bool) []string {
	first := fmt.Sprintf(`+CGPADDR: 1,"%s"`, st.ip)
	if st.ip == "" {
		switch s.m.cfg.Dialect {
		case "sierra":
			first = "+CGPADDR: 1"
		case "telit":
			first = `+CGPADDR: 1,""`
		default:
			first = `+CGPADDR: 1,"0.0.0.0"`
		}
	}
	if quectel {
		return []string{first, `+CGPADDR: 2,"0.0.0.0","0:0:0:0:0:0:0:0"`}
	}
	return []string{first}
}

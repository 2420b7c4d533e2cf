package modem

import "strings"

// Dialects: the vendor families whose own commands the probe knows.
const (
	DialectGeneric = "generic"
	DialectQuectel = "quectel"
	DialectSierra  = "sierra"
	DialectUblox   = "ublox"
	DialectTelit   = "telit"
)

// Dialects lists the dialect names.
var Dialects = []string{DialectGeneric, DialectQuectel, DialectSierra, DialectUblox, DialectTelit}

// DialectOf names the dialect from the manufacturer's answer to AT+CGMI.
func DialectOf(manufacturer string) string {
	m := strings.ToLower(manufacturer)
	switch {
	case strings.Contains(m, "quectel"):
		return DialectQuectel
	case strings.Contains(m, "sierra"):
		return DialectSierra
	case strings.Contains(m, "u-blox"), strings.Contains(m, "ublox"):
		return DialectUblox
	case strings.Contains(m, "telit"):
		return DialectTelit
	}
	return DialectGeneric
}

// vendorCommand is a dialect's stand-in for a standard command.
type vendorCommand struct {
	dialect string
	cmd     string
	also    []string // further answer prefixes
}

// iccidCommands stand in for AT+CCID (u-blox answers AT+CCID itself).
var iccidCommands = []vendorCommand{
	{DialectQuectel, "AT+QCCID", nil},
	{DialectSierra, "AT!ICCID?", nil},
	{DialectTelit, "AT#CCID", nil},
}

// radioCommands stand in for AT+CESQ.
var radioCommands = []vendorCommand{
	{DialectQuectel, "AT+QCSQ", nil},
	{DialectSierra, "AT!GSTATUS?", nil},
	{DialectUblox, "AT+UCGED?", []string{"+RSRP:", "+RSRQ:"}},
	{DialectTelit, "AT#RFSTS", nil},
}

// pinCountCommands stand in for AT+CPINR.
var pinCountCommands = []vendorCommand{
	{DialectQuectel, `AT+QPINC="SC"`, nil},
	{DialectUblox, "AT+UPINCNT", nil},
	{DialectTelit, "AT#PCT", nil},
}

// forDialect picks the stand-ins to try: the modem's own vendor's, or, when
// the vendor is unknown, every vendor's (an unknown command only costs an
// ERROR).
func forDialect(cmds []vendorCommand, dialect string) []vendorCommand {
	if dialect == DialectGeneric || dialect == "" {
		return cmds
	}
	var out []vendorCommand
	for _, c := range cmds {
		if c.dialect == dialect {
			out = append(out, c)
		}
	}
	return out
}

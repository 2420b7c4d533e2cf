package main

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// habits are mosquitto_pub/sub's and mbpoll's flags that ectool has under
// another name (or not at all), each with the ectool form (habits.go).
var habits = []habit{
	// mosquitto_pub / mosquitto_sub (-h HOST: mosquittoHost).
	{tool: "mosquitto", long: "host", value: true, say: func(u habitUse) string {
		return fmt.Sprintf("-b mqtt://%s:1883", u.or("HOST"))
	}},
	{tool: "mosquitto", short: "p", long: "port", value: true, say: func(u habitUse) string {
		return fmt.Sprintf("the port in -b mqtt://HOST:%s", u.or("1883"))
	}},
	{tool: "mosquitto", short: "P", long: "pw", value: true, secret: true, say: func(habitUse) string {
		return "--password-file FILE or ECTOOL_MQTT_PASSWORD (a password on the command line shows in ps and the shell's history)"
	}},
	{tool: "mosquitto", short: "L", long: "url", value: true, secret: true, say: mosquittoURLHabit},
	{tool: "mosquitto", long: "cafile", value: true, needs: "ca", say: func(u habitUse) string {
		return "--ca " + u.or("FILE")
	}},
	{tool: "mosquitto", long: "capath", value: true, needs: "ca", say: func(habitUse) string {
		return "--ca FILE (one PEM file holding the CA certificates; ectool reads no directory)"
	}},
	{tool: "mosquitto", short: "i", long: "id", value: true, needs: "client-id", say: func(u habitUse) string {
		return "--client-id " + u.or("ID")
	}},
	{tool: "mosquitto", short: "I", long: "id-prefix", value: true, needs: "client-id", say: func(habitUse) string {
		return "--client-id ID (a whole id: without it ectool picks a random ectool-... id)"
	}},
	{tool: "mosquitto", short: "k", value: true, needs: "keepalive", say: func(u habitUse) string {
		if s := seconds(u.value); s != "" {
			return "--keepalive " + s
		}
		return "--keepalive DURATION, such as 60s"
	}},
	{tool: "mosquitto", short: "V", long: "protocol-version", value: true, needs: "mqtt-version", say: mqttVersionHabit},
	{tool: "mosquitto", short: "d", long: "debug", say: func(habitUse) string {
		return "-v (say more on stderr)"
	}},
	{tool: "mosquitto", short: "c", long: "disable-clean-session", needs: "clean-start", say: func(habitUse) string {
		return "--clean-start=false with a fixed --client-id"
	}},
	{tool: "mosquitto", short: "C", value: true, needs: "retained-only", say: func(u habitUse) string {
		return "--count " + u.or("N")
	}},
	{tool: "mosquitto", short: "W", value: true, needs: "retained-only", say: func(u habitUse) string {
		if s := seconds(u.value); s != "" {
			return "--timeout " + s
		}
		return "--timeout DURATION, such as 10s"
	}},
	{tool: "mosquitto", short: "l", needs: "stdin-lines", say: func(habitUse) string { return "--stdin-lines" }},
	{tool: "mosquitto", short: "s", long: "stdin-file", needs: "file", say: func(habitUse) string { return "--file - (the whole of stdin as one message)" }},
	{tool: "mosquitto", short: "f", value: true, needs: "file", say: func(u habitUse) string {
		return "--file " + u.or("FILE")
	}},
	{tool: "mosquitto", short: "n", long: "null-message", needs: "message", say: func(habitUse) string {
		return "-m ''"
	}},
	{tool: "mosquitto", short: "x", value: true, needs: "expiry", say: func(u habitUse) string {
		if s := seconds(u.value); s != "" {
			return "--expiry " + s
		}
		return "--expiry DURATION, such as 1h"
	}},
	{tool: "mosquitto", short: "D", long: "property", value: true, needs: "user-property", say: func(habitUse) string {
		return "--user-property key=value (repeatable)"
	}},
	{tool: "mosquitto", long: "will-payload", value: true, needs: "will-message", say: func(u habitUse) string {
		return "--will-message " + u.or("MSG")
	}},
	{tool: "mosquitto", long: "tls-version", value: true, needs: "tls-min", say: func(u habitUse) string {
		if strings.Contains(u.value, "1.3") {
			return "--tls-min 1.3"
		}
		return "--tls-min 1.2"
	}},
	{tool: "mosquitto", long: "tls-alpn", value: true, needs: "alpn", say: func(u habitUse) string {
		return "--alpn " + u.or("PROTO")
	}},

	// mbpoll.
	{tool: "mbpoll", short: "a", value: true, needs: "ids", say: func(u habitUse) string {
		return "--ids " + strings.ReplaceAll(u.or("N"), ":", "-")
	}},
	{tool: "mbpoll", short: "a", value: true, needs: "unit", say: func(u habitUse) string {
		return "--unit " + strings.ReplaceAll(u.or("N"), ":", "-")
	}},
	{tool: "mbpoll", short: "b", value: true, needs: "baud", say: func(u habitUse) string {
		return "--baud " + u.or("RATE")
	}},
	{tool: "mbpoll", short: "P", value: true, needs: "parity", say: func(u habitUse) string {
		switch strings.ToLower(u.value) {
		case "none":
			return "--parity N"
		case "even":
			return "--parity E"
		case "odd":
			return "--parity O"
		}
		return "--parity N, E or O"
	}},
	{tool: "mbpoll", short: "d", value: true, needs: "data-bits", say: func(u habitUse) string {
		return "--data-bits " + u.or("8")
	}},
	{tool: "mbpoll", short: "s", value: true, needs: "stop-bits", say: func(u habitUse) string {
		return "--stop-bits " + u.or("1")
	}},
	{tool: "mbpoll", short: "m", value: true, say: func(habitUse) string {
		return "!TARGET says the mode: rtu:///dev/ttyUSB0 (or a device path, or COM12), tcp://host:502, rtuovertcp://host:port"
	}},
	{tool: "mbpoll", short: "p", value: true, say: func(u habitUse) string {
		return fmt.Sprintf("the port in TARGET: tcp://HOST:%s", u.or("502"))
	}},
	{tool: "mbpoll", short: "r", value: true, needs: "probe", say: func(u habitUse) string {
		t := mbpollTableOf(u.args)
		return fmt.Sprintf("--probe %s:%s", t.fc, t.reference(u.value, u.args))
	}},
	{tool: "mbpoll", short: "r", value: true, needs: "reg", say: func(u habitUse) string {
		form := "--reg " + mbpollTableOf(u.args).reference(u.value, u.args)
		if typ := mbpollType(flagUse(u.args, "t")); typ != "" {
			form += " --type " + typ
		}
		return form
	}},
	{tool: "mbpoll", short: "t", value: true, needs: "probe", say: func(u habitUse) string {
		return "--probe " + mbpollTable(u.value).fc
	}},
	{tool: "mbpoll", short: "t", value: true, needs: "type", say: mbpollTypeHabit},
	{tool: "mbpoll", short: "c", value: true, needs: "count", say: func(u habitUse) string {
		return "--count " + u.or("N")
	}},
	{tool: "mbpoll", short: "c", value: true, needs: "probe", say: func(habitUse) string {
		return "!scan asks each address for one register; 'ectool modbus read --count N' reads several"
	}},
	{tool: "mbpoll", short: "B", needs: "order", say: func(habitUse) string {
		return "--order ABCD (mbpoll's default, little-endian words, is --order CDAB; ectool's --order auto finds the order)"
	}},
	{tool: "mbpoll", short: "B", say: func(habitUse) string {
		return "!no 32-bit value is read here, so there is no word order to give ('ectool modbus read --order ABCD' takes it)"
	}},
	{tool: "mbpoll", short: "0", say: func(habitUse) string {
		return "!a register number without a leading table digit is already the 0-based wire address here (--reg 16 or 0x10 with --table); a Modicon reference such as 40017 counts from 1"
	}},
	{tool: "mbpoll", short: "1", needs: "polls", say: func(habitUse) string { return "--polls 1" }},
	{tool: "mbpoll", short: "1", needs: "reg", say: func(habitUse) string {
		return "!ectool modbus read polls once already; 'ectool modbus watch' polls again and again"
	}},
	{tool: "mbpoll", short: "l", value: true, needs: "every", say: func(u habitUse) string {
		if ms, err := strconv.Atoi(u.value); err == nil && ms >= 0 {
			return "--every " + msDuration(ms)
		}
		return "--every DURATION, such as 1s"
	}},
}

// mbpollTableInfo is what mbpoll's -t 0|1|3|4 selects.
type mbpollTableInfo struct {
	digit byte   // Modicon reference's first digit
	fc    string // scan's --probe
	name  string // modbus --table
}

func mbpollTable(t string) mbpollTableInfo {
	kind, _, _ := strings.Cut(t, ":")
	switch kind {
	case "0":
		return mbpollTableInfo{'0', "fc01", "coil"}
	case "1":
		return mbpollTableInfo{'1', "fc02", "discrete"}
	case "3":
		return mbpollTableInfo{'3', "fc04", "input"}
	}
	return mbpollTableInfo{'4', "fc03", "holding"}
}

// mbpollTableOf is the table of -t on the line (holding without one).
func mbpollTableOf(args []string) mbpollTableInfo { return mbpollTable(flagUse(args, "t")) }

// reference turns mbpoll's -r N (1-based, or 0-based with -0) into a
// Modicon reference of the table: -t 3 -r 100 → 30100.
func (t mbpollTableInfo) reference(v string, args []string) string {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 || n > 65536 {
		return string(t.digit) + "0001"
	}
	if hasFlag(args, "-0") {
		n++
	}
	if n <= 9999 {
		return fmt.Sprintf("%c%04d", t.digit, n)
	}
	return fmt.Sprintf("%c%05d", t.digit, n)
}

// mbpollTypeHabit words -t TABLE[:TYPE] for the modbus commands.
func mbpollTypeHabit(u habitUse) string {
	t := mbpollTable(u.value)
	typ := mbpollType(u.value)
	form := "--table " + t.name
	if typ != "" {
		form += " --type " + typ
	}
	if r := flagUse(u.args, "r"); r != "" {
		form += fmt.Sprintf(" (or the table in the register: --reg %s", t.reference(r, u.args))
		if typ != "" {
			form += " --type " + typ
		}
		form += ")"
	}
	return form
}

// mbpollType is ectool's --type for the type of mbpoll's -t 4:float.
func mbpollType(t string) string {
	_, kind, _ := strings.Cut(t, ":")
	return map[string]string{"int": "s32", "float": "f32", "int16": "s16", "hex": "u16"}[kind]
}

// mosquittoURLHabit splits mosquitto's -L mqtt://user:pass@host:port/topic
// into ectool's flags (the password never said back: the URL is secret).
func mosquittoURLHabit(u habitUse) string {
	p, err := url.Parse(u.value)
	if err != nil || p.Host == "" {
		return "-b URL with the topic in -t and the user in -u"
	}
	form := fmt.Sprintf("-b %s://%s", p.Scheme, p.Host)
	t := strings.TrimPrefix(p.Path, "/")
	if strings.Contains(u.value, "#") {
		t += "#" + p.Fragment // a topic's # wildcard, not a URL fragment
	}
	if strings.ContainsAny(t, "#+ ") {
		t = "'" + t + "'" // as the shell needs it
	}
	if t != "" {
		form += " -t " + t
	}
	if p.User != nil {
		form += " -u " + p.User.Username()
		if _, ok := p.User.Password(); ok {
			form += " --password-file FILE"
		}
	}
	return form
}

// mqttVersionHabit words mosquitto's -V mqttv5|mqttv311|mqttv31.
func mqttVersionHabit(u habitUse) string {
	switch strings.TrimPrefix(strings.ToLower(u.value), "mqttv") {
	case "5":
		return "--mqtt-version 5"
	case "31", "3":
		return "--mqtt-version 3.1.1 (ectool speaks 3.1.1 and 5, not 3.1)"
	}
	return "--mqtt-version 3.1.1"
}

func msDuration(ms int) string {
	return (time.Duration(ms) * time.Millisecond).String()
}

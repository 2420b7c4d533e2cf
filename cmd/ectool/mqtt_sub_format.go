package main

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ecdata/ectool/probe/mqtt"
)

// subFormatHelp is -F's flag help; the codes are mosquitto_sub -F's, so a
// template written for it prints the same here.
const subFormatHelp = `print each message through a template (mosquitto_sub -F): %t topic, %p payload (raw bytes), ` +
	`%x/%X payload in hex, %l payload length, %q QoS, %r retained (0/1), %I local time ISO 8601 with zone, ` +
	`%U Unix time, %C content type, %R response topic, %% a %; escapes \n \t \r \\ \0 \e; text output only`

// subFormat is a compiled -F template: one piece per literal run or code.
type subFormat []func(dst []byte, d *mqtt.Delivery) []byte

// parseSubFormat compiles a -F template. An unknown code or escape is a
// usage error naming it: printing it as is would hide a typo in a script
// until someone reads the output.
func parseSubFormat(tmpl string) (subFormat, error) {
	var f subFormat
	var lit []byte
	flush := func() {
		if len(lit) > 0 {
			s := lit
			f = append(f, func(dst []byte, _ *mqtt.Delivery) []byte { return append(dst, s...) })
			lit = nil
		}
	}
	for i := 0; i < len(tmpl); i++ {
		c := tmpl[i]
		if c != '%' && c != '\\' {
			lit = append(lit, c)
			continue
		}
		if i+1 == len(tmpl) {
			return nil, usageError("-F/--format %q ends with a lone %c: write %s for the character itself", tmpl, c, map[byte]string{'%': "%%", '\\': `\\`}[c])
		}
		i++
		if c == '\\' {
			e, ok := formatEscapes[tmpl[i]]
			if !ok {
				return nil, usageError(`-F/--format: unknown escape \%c: use \n, \t, \r, \\, \0 or \e`, tmpl[i])
			}
			lit = append(lit, e)
			continue
		}
		if tmpl[i] == '%' {
			lit = append(lit, '%')
			continue
		}
		code, ok := formatCodes[tmpl[i]]
		if !ok {
			return nil, usageError("-F/--format: unknown code %%%c: use %%t topic, %%p payload, %%x hex, %%l length, %%q QoS, %%r retained, %%I time, %%U Unix time, %%C content type, %%R response topic or %%%% for a %%", tmpl[i])
		}
		flush()
		f = append(f, code)
	}
	flush()
	return f, nil
}

// render is one message through the template (the line end is the
// stream's).
func (f subFormat) render(d *mqtt.Delivery) string {
	var b []byte
	for _, piece := range f {
		b = piece(b, d)
	}
	return string(b)
}

var formatEscapes = map[byte]byte{'n': '\n', 't': '\t', 'r': '\r', '\\': '\\', '0': 0, 'e': 0x1b, 'a': '\a', 'v': '\v'}

func flag01(b bool) byte {
	if b {
		return '1'
	}
	return '0'
}

var formatCodes = map[byte]func(dst []byte, d *mqtt.Delivery) []byte{
	't': func(dst []byte, d *mqtt.Delivery) []byte { return append(dst, d.Topic...) },
	'p': func(dst []byte, d *mqtt.Delivery) []byte { return append(dst, d.Payload...) },
	'x': func(dst []byte, d *mqtt.Delivery) []byte { return hex.AppendEncode(dst, d.Payload) },
	'X': func(dst []byte, d *mqtt.Delivery) []byte {
		return append(dst, strings.ToUpper(hex.EncodeToString(d.Payload))...)
	},
	'l': func(dst []byte, d *mqtt.Delivery) []byte { return strconv.AppendInt(dst, int64(len(d.Payload)), 10) },
	'q': func(dst []byte, d *mqtt.Delivery) []byte { return strconv.AppendInt(dst, int64(d.QoS), 10) },
	'r': func(dst []byte, d *mqtt.Delivery) []byte { return append(dst, flag01(d.Retain)) },
	// Local time with its zone, as every other time shown to a person;
	// milliseconds, so lines can be matched against a gateway's log.
	'I': func(dst []byte, d *mqtt.Delivery) []byte {
		return d.Received.Local().AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
	},
	'U': func(dst []byte, d *mqtt.Delivery) []byte {
		ns := d.Received.UnixNano()
		return fmt.Appendf(dst, "%d.%09d", ns/int64(time.Second), ns%int64(time.Second))
	},
	'C': func(dst []byte, d *mqtt.Delivery) []byte { return append(dst, d.Properties.ContentType...) },
	'R': func(dst []byte, d *mqtt.Delivery) []byte { return append(dst, d.Properties.ResponseTopic...) },
}

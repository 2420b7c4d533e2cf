package modbus

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// String is the identity in one line: the name (vendor, product,
// revision, each word once), what the server id adds to it, and the
// --id-register value ("Carlo Gavazzi EM340 2.1, S/N 11930231, id
// register 11930231 (0x00b60a77)").
func (i Identity) String() string {
	name := identityName(i.Vendor, i.Product, i.Revision)
	var parts []string
	if name != "" {
		parts = append(parts, name)
	}
	sid := i.ServerIDText
	if sid == "" && i.ServerID != "" {
		sid = "0x" + i.ServerID
	}
	if sid != "" {
		if rest, repeats := ServerIDBeyond(sid, name); !repeats {
			parts = append(parts, "server id "+sid)
		} else if rest != "" {
			parts = append(parts, rest)
		}
	}
	if i.IDRegister != "" {
		parts = append(parts, "id register "+IDRegisterText(i.IDRegister))
	}
	return strings.Join(parts, ", ")
}

// identityName joins vendor, product and revision without saying a word
// twice: a product code that starts with the vendor's name ("Acme" and
// "Acme EM-1") is said once.
func identityName(vendor, product, revision string) string {
	var words []string
	seen := map[string]bool{}
	for _, part := range []string{vendor, product, revision} {
		for _, w := range strings.Fields(part) {
			if k := strings.ToLower(w); !seen[k] {
				seen[k] = true
				words = append(words, w)
			}
		}
	}
	return strings.Join(words, " ")
}

// ServerIDBeyond is what a server id's text adds to a device's name: its
// leading words that repeat the name are dropped ("Carlo Gavazzi EM340
// 2.1 S/N 11930231" beyond "Carlo Gavazzi EM340 2.1" is "S/N 11930231").
// repeats is false when the text does not start with a word of the name.
func ServerIDBeyond(text, name string) (rest string, repeats bool) {
	in := map[string]bool{}
	for _, w := range strings.Fields(name) {
		in[strings.ToLower(w)] = true
	}
	words := strings.Fields(text)
	n := 0
	for n < len(words) && in[strings.ToLower(words[n])] {
		n++
	}
	return strings.Join(words[n:], " "), n > 0
}

// ServerIDText is the printable text of a server id given in hex (as
// Device.ServerIDs), or 0x and the hex when none of it is text.
func ServerIDText(hexID string) string {
	b, err := hex.DecodeString(hexID)
	if err != nil {
		return hexID
	}
	if t := printable(b); t != "" {
		return t
	}
	return "0x" + hexID
}

// IDRegisterText is an --id-register value (hex of the answer's byte
// count and registers) as a person compares it with a label: one or two
// registers as an unsigned number with their hex ("11930231 (0x00b60a77)"),
// more as hex.
func IDRegisterText(hexValue string) string {
	b, err := hex.DecodeString(hexValue)
	if err != nil || len(b) < 2 || int(b[0]) != len(b)-1 {
		return "0x" + hexValue
	}
	data := b[1:]
	switch len(data) {
	case 2:
		return fmt.Sprintf("%d (0x%x)", binary.BigEndian.Uint16(data), data)
	case 4:
		return fmt.Sprintf("%d (0x%x)", binary.BigEndian.Uint32(data), data)
	}
	return fmt.Sprintf("0x%x", data)
}

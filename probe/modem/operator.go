package modem

import (
	"errors"
	"fmt"
)

// Operator is the answer to AT+COPS? (3GPP TS 27.007 §7.3).
type Operator struct {
	Mode      int    `json:"mode"`
	ModeWords string `json:"mode_words"`
	// Format says what Name is: 0 long name, 1 short name, 2 numeric
	// (MCC and MNC); -1 when no operator was given.
	Format int    `json:"format"`
	Name   string `json:"name,omitempty"`
	AcT    int    `json:"act"`
	Tech   string `json:"tech,omitempty"`
}

var copsModeWords = []string{
	0: "automatic",
	1: "manual",
	2: "deregistered from the network",
	3: "set format only",
	4: "manual, automatic if the chosen network is not found",
}

// ParseCOPS reads "+COPS: <mode>[,<format>,<oper>[,<AcT>]]".
func ParseCOPS(lines []string) (Operator, error) {
	rest, ok := firstWith(lines, "+COPS:")
	if !ok {
		return Operator{}, errors.New("no +COPS: line in the answer")
	}
	if len(rest) > 0 && rest[0] == '(' {
		return Operator{}, errors.New("+COPS: a network list, not the current operator")
	}
	f := splitFields(rest)
	o := Operator{Format: -1, AcT: -1}
	mode, ok := atoi(f[0])
	if !ok {
		return o, fmt.Errorf("+COPS: %q has no mode", rest)
	}
	o.Mode = mode
	if mode >= 0 && mode < len(copsModeWords) {
		o.ModeWords = copsModeWords[mode]
	} else {
		o.ModeWords = fmt.Sprintf("mode %d (not in the standard)", mode)
	}
	if len(f) >= 3 {
		if format, ok := atoi(f[1]); ok {
			o.Format, o.Name = format, unquote(f[2])
		}
	}
	if len(f) >= 4 {
		if act, ok := atoi(f[3]); ok {
			o.AcT, o.Tech = act, ActWords(act)
		}
	}
	return o, nil
}

package modem

import (
	"strconv"
	"strings"
)

// splitFields splits an AT answer's parameters at commas outside double
// quotes, trimming spaces; quotes stay on the fields so a caller can tell
// "1" (a string) from 1 (a number).
func splitFields(s string) []string {
	var out []string
	var b strings.Builder
	quoted := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			quoted = !quoted
			b.WriteByte(c)
		case c == ',' && !quoted:
			out = append(out, strings.TrimSpace(b.String()))
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	return append(out, strings.TrimSpace(b.String()))
}

// unquote strips one pair of surrounding double quotes.
func unquote(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return strings.Trim(s, `"`)
}

// isQuoted reports whether a field came in double quotes.
func isQuoted(s string) bool { return len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' }

// atoi parses a decimal field (quotes and spaces allowed), reporting
// whether it was one.
func atoi(s string) (int, bool) {
	s = strings.TrimSpace(unquote(s))
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// atof parses a decimal number field ("-10.5", "-085.00").
func atof(s string) (float64, bool) {
	s = strings.TrimSpace(unquote(s))
	if s == "" || len(s) > 16 {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// afterPrefix returns the text after prefix ("+CSQ:") at the start of line,
// case-insensitively, and whether line had it.
func afterPrefix(line, prefix string) (string, bool) {
	if len(line) < len(prefix) || !strings.EqualFold(line[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(line[len(prefix):]), true
}

// linesWith returns the parameters of every line that starts with prefix.
func linesWith(lines []string, prefix string) []string {
	var out []string
	for _, l := range lines {
		if rest, ok := afterPrefix(l, prefix); ok {
			out = append(out, rest)
		}
	}
	return out
}

// firstWith returns the parameters of the first line that starts with
// prefix.
func firstWith(lines []string, prefix string) (string, bool) {
	if l := linesWith(lines, prefix); len(l) > 0 {
		return l[0], true
	}
	return "", false
}

package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// textTimeLayout is how a time reads in text output: local time with its
// zone (reports and JSON keep RFC 3339 UTC).
const textTimeLayout = "2006-01-02 15:04:05.000 MST"

// textTime is t for a person: local time with the zone, "-" when unset.
func textTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(textTimeLayout)
}

// textTimeString turns a report's RFC 3339 time (a string in evidence) into
// textTime; ok is false for any other string.
func textTimeString(s string) (string, bool) {
	if len(s) < len("2006-01-02T15:04:05Z") || s[4] != '-' || s[10] != 'T' {
		return "", false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return "", false
	}
	return textTime(t), true
}

// evidenceLines renders a check's evidence for a terminal: one "key: value"
// line per leaf (nested objects as key.sub, lists of objects as
// key[0].sub, lists of plain values joined), each wrapped at width under
// indent, words never cut.
func evidenceLines(ev map[string]any, width int, indent string) []string {
	if len(ev) == 0 {
		return nil
	}
	var lines []string
	add := func(key, val string) {
		head := indent + key + ": "
		for j, l := range wrapWords(val, width, len(head), len(indent)+4) {
			if j == 0 {
				lines = append(lines, head+l)
			} else {
				lines = append(lines, indent+"    "+l)
			}
		}
	}
	flattenEvidence("", plainValue(map[string]any(ev)), add)
	return lines
}

// plainValue is v as JSON would carry it (maps, lists, strings, numbers,
// booleans, nil), so structs in evidence flatten like the JSON report.
func plainValue(v any) any {
	switch v.(type) {
	case nil, string, bool, float64, int, int64, uint64:
		return v
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	var out any
	if json.Unmarshal(b, &out) != nil {
		return string(b)
	}
	return out
}

func flattenEvidence(key string, v any, add func(key, val string)) {
	join := func(k string) string {
		if key == "" {
			return k
		}
		return key + "." + k
	}
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			flattenEvidence(join(k), plainValue(x[k]), add)
		}
		if len(x) == 0 && key != "" {
			add(key, "-")
		}
	case []any:
		if flat, ok := scalarList(x); ok {
			add(key, flat)
			return
		}
		for i, e := range x {
			flattenEvidence(key+"["+strconv.Itoa(i)+"]", plainValue(e), add)
		}
	default:
		add(key, textValue(x))
	}
}

// scalarList joins a list of plain values ("-" when empty); ok is false
// when an element is an object or a list.
func scalarList(xs []any) (string, bool) {
	if len(xs) == 0 {
		return "-", true
	}
	parts := make([]string, 0, len(xs))
	for _, e := range xs {
		switch e.(type) {
		case map[string]any, []any:
			return "", false
		}
		parts = append(parts, textValue(e))
	}
	return strings.Join(parts, ", "), true
}

// textValue is one plain value for a person: times in local time, numbers
// without a trailing .0, nil as "-".
func textValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case string:
		if t, ok := textTimeString(x); ok {
			return t
		}
		return x
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

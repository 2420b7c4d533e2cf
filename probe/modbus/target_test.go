package modbus

import (
	"fmt"
	"strings"
	"testing"
)

// FuzzParseIDs: the one unit-id list of --unit and scan's --ids never
// yields 0, 248-255 or a duplicate, and says back what it read.
func FuzzParseIDs(f *testing.F) {
	for _, s := range []string{"1", "1,2,17", "1-247", "1-3,17", " 2 , 5-6 ", "0", "248", "3-1", "1,,2", "-", "1-", "17-17", "99999999999999999999", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids, err := ParseIDs(s)
		if err != nil {
			return
		}
		if len(ids) == 0 {
			t.Fatalf("%q: no ids and no error", s)
		}
		seen := map[byte]bool{}
		parts := make([]string, len(ids))
		for i, id := range ids {
			if id < 1 || id > 247 || seen[id] {
				t.Fatalf("%q: id %d (%v)", s, id, ids)
			}
			seen[id] = true
			parts[i] = fmt.Sprint(id)
		}
		back, err := ParseIDs(strings.Join(parts, ","))
		if err != nil || fmt.Sprint(back) != fmt.Sprint(ids) {
			t.Fatalf("%q: %v said back reads %v, %v", s, ids, back, err)
		}
	})
}

package bus

import (
	"bytes"
	"testing"
	"time"
)

// The observer hears every transmission on the line, the master's and the
// meters', each character stamped with line time: the silence between a
// request and meter 1's answer is the meter's configured latency, to the
// half bit by which a character's stop bit sample precedes its end,
// whatever the host's load.
func TestObserverStampsCharactersWithLineTime(t *testing.T) {
	b := startBus(t, "clean")
	o, err := b.Observe()
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	p := master(t, b, b.Settings(), false)
	req := readHolding(1, 0, 1)
	ans := exchange(t, p, req, 80*time.Millisecond)
	chars := o.Chars()
	var heard []byte
	for _, c := range chars {
		if c.Bad {
			t.Fatalf("a character with a UART error on a clean line: %+v", c)
		}
		heard = append(heard, c.B)
	}
	if want := append(append([]byte(nil), req...), ans...); len(ans) == 0 || !bytes.Equal(heard, want) {
		t.Fatalf("observer heard % X, want the request and answer % X", heard, want)
	}
	s := b.Settings()
	halfBit := time.Second / time.Duration(2*s.Baud)
	for i := 1; i < len(chars); i++ {
		gap := chars[i].At - chars[i-1].At - s.CharTime()
		want := time.Duration(0)
		if i == len(req) {
			want = b.Config().Meters[0].Latency - halfBit
		}
		if gap < want-time.Microsecond || gap > want+time.Microsecond {
			t.Errorf("silence before character %d: %s, want %s", i, gap, want)
		}
	}
}

package bus

import (
	"net"
	"testing"
	"time"

	"github.com/ecdata/ectool/probe/modbus"
)

// A client leaves t3.5 of silence between its requests; when the lab reads
// two of them at once (it was busy, or the client wrote them together),
// they still go on the line as two frames, and both meters answer. Run
// together into one frame, no meter would answer the first.
func TestRTUOverTCPKeepsRequestsReadTogetherApart(t *testing.T) {
	b := startBus(t, "clean")
	s, err := b.ServeRTUOverTCP("")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(append(readHolding(1, 0, 2), readHolding(2, 0, 2)...)); err != nil {
		t.Fatal(err)
	}
	want := 2 * answerLen(2)
	got := make([]byte, 0, want)
	buf := make([]byte, 256)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for len(got) < want {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("answers so far % X: %v", got, err)
		}
	}
	for i, unit := range []byte{1, 2} {
		f, err := modbus.DecodeRTU(got[i*answerLen(2):(i+1)*answerLen(2)], modbus.Response)
		if err != nil || f.Unit != unit {
			t.Fatalf("answer %d: % X (%v), want one from unit %d", i+1, got, err, unit)
		}
	}
}

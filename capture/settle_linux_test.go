//go:build linux

package capture

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/ecdata/ectool/internal/testenv"
)

// A stop keeps what the kernel took before it: the packets of the ring's
// open block (TPACKET_V3 hands a block over only when it retires) and what
// waits on a recvmsg socket. settle is what a stop runs.
func TestSettleReadsWhatTheKernelTookBeforeTheStop(t *testing.T) {
	testenv.RequireRoot(t)
	for _, reader := range []string{"auto", "recvfrom"} {
		t.Run(reader, func(t *testing.T) {
			t.Setenv(readerEnv, reader)
			rx, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer rx.Close()
			port := rx.LocalAddr().(*net.UDPAddr).Port
			lc := &liveCapture{o: LiveOptions{Filter: "udp port " + strconv.Itoa(port), Snaplen: DefaultSnaplen,
				Buffer: 1 << 20, Ring: RingOptions{Flush: 2 * time.Second}, Warn: func(s string) { t.Log(s) }}}
			s, got, err := lc.openSource("lo")
			if err != nil {
				t.Fatal(err)
			}
			defer s.close()
			if want := map[bool]string{true: "tpacket_v3", false: "recvfrom"}[tpacketAvailable && reader == "auto"]; got != want {
				t.Fatalf("reader %s, want %s", got, want)
			}
			if ts, ok := s.(*tpacketSource); ok && ts.rc == nil {
				t.Fatal("TPACKET_V3 reader waits in afpacket's poll(2), not in Go's poller")
			}
			const n = 20
			c, err := net.Dial("udp", rx.LocalAddr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			buf := make([]byte, 64)
			for i := 0; i < n; i++ {
				if _, err := c.Write([]byte("settle")); err != nil {
					t.Fatal(err)
				}
				// The receiver has it, so the packet socket has seen it too.
				if _, _, err := rx.ReadFrom(buf); err != nil {
					t.Fatal(err)
				}
			}
			// Nothing is read before the stop; settle alone must hand over all n
			// (a 2s --flush makes the block timeout 250ms, so the block is open).
			seen := 0
			s.interrupt()
			s.settle(func(_ time.Time, data []byte, _ int) { seen++ })
			if seen != n {
				t.Fatalf("settle handed over %d packets, want %d", seen, n)
			}
		})
	}
}

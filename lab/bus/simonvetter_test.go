package bus

import (
	"io"
	"log"
	"runtime"
	"testing"
	"time"

	sv "github.com/simonvetter/modbus"
)

// simonvetter/modbus is a third independent master: its RTU transport (on
// go.bug.st/serial, the same serial library ectool uses), rtuovertcp and
// TCP clients read meter 3's serial number from every endpoint of the bus.
func TestSimonvetterClientReadsEveryEndpoint(t *testing.T) {
	b := startBus(t, "default")
	r, err := b.ServeRTUOverTCP("")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	g, err := b.ServeGateway("")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	urls := []string{r.URL(), g.URL()}
	if runtime.GOOS == "linux" || runtime.GOOS == "darwin" {
		urls = append(urls, "rtu://"+openPTY(t, b, "").Path())
	}
	for _, u := range urls {
		c, err := sv.NewClient(&sv.ClientConfiguration{URL: u, Speed: 9600, DataBits: 8, Parity: sv.PARITY_NONE, StopBits: 1,
			Timeout: time.Second, Logger: log.New(io.Discard, "", 0)})
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if err := c.Open(); err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		c.SetUnitId(3)
		regs, err := c.ReadRegisters(16, 2, sv.HOLDING_REGISTER)
		if err != nil || len(regs) != 2 || uint32(regs[0])<<16|uint32(regs[1]) != 31100873 {
			t.Errorf("%s: unit 3 serial registers %v, %v", u, regs, err)
		}
		c.SetUnitId(42)
		if _, err := c.ReadRegisters(0, 1, sv.HOLDING_REGISTER); err == nil {
			t.Errorf("%s: absent unit 42 answered", u)
		}
		c.Close()
	}
}

package bus_test

import (
	"fmt"
	"time"

	"github.com/ecdata/ectool/lab/bus"
	"github.com/ecdata/ectool/probe/modbus"
)

// A master on the default lab bus reads meter 1's serial number (holding
// registers 16-17). The answer takes its wire time: about 23 ms at 9600 8N1
// for the request, the meter's latency and the answer.
func Example() {
	b, err := bus.New(bus.Default())
	if err != nil {
		panic(err)
	}
	defer b.Close()
	master, _ := b.Attach("example master", b.Settings(), false)
	req := modbus.ReadRequest{Function: modbus.FuncReadHoldingRegisters, Address: 16, Quantity: 2}
	master.Write(modbus.EncodeRTU(1, req.PDU()))
	var got []byte
	for timeout := time.After(2 * time.Second); len(got) < 9; {
		select {
		case c := <-master.Recv():
			got = append(got, c...)
		case <-timeout:
			panic("no answer")
		}
	}
	f, _ := modbus.DecodeRTU(got, modbus.Response)
	regs, _ := modbus.ParseRegisters(f.PDU)
	fmt.Printf("% X\nserial %d\n", got, uint32(regs[0])<<16|uint32(regs[1]))
	// Output:
	// 01 03 04 00 B6 0A 77 5D 53
	// serial 11930231
}

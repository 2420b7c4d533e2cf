package modbus_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/ecdata/ectool/probe/modbus"
)

// Another master's request and its meter's answer that reach ectool in one
// read (a USB adapter's latency timer, one TCP segment from a serial
// server) were two moments on the wire: each foreign frame keeps its own
// time, the request's end one answer's wire time before the answer's.
func TestForeignFramesOfOneReadKeepTheirOwnTimes(t *testing.T) {
	near, far := net.Pipe()
	defer far.Close()
	go func() { _, _ = io.Copy(io.Discard, far) }() // ectool's own requests
	req := modbus.EncodeRTU(5, modbus.ReadRequest{Function: modbus.FuncReadHoldingRegisters, Quantity: 1}.PDU())
	ans := modbus.EncodeRTU(5, modbus.RegistersResponse(3, []uint16{230}))
	go func() { _, _ = far.Write(append(append([]byte{}, req...), ans...)) }()

	tg, err := modbus.ParseTarget("rtu:///dev/ttyBRIDGE")
	if err != nil {
		t.Fatal(err)
	}
	o := modbus.ScanOptions{Target: tg, IDs: []byte{1}, Listen: 300 * time.Millisecond, Confirm: -1, IDRegister: -1,
		Timeout: 50 * time.Millisecond, TalkOverMaster: true, Open: func() (modbus.Port, error) { return near, nil }}
	res := scan(t, o)
	ff := res.Bus.ForeignFrames
	if len(ff) != 2 || ff[0].Dir != "request" || ff[1].Dir != "response" {
		t.Fatalf("foreign frames %+v: want the request and its answer", ff)
	}
	at0, err0 := time.Parse(time.RFC3339Nano, ff[0].At)
	at1, err1 := time.Parse(time.RFC3339Nano, ff[1].At)
	if err0 != nil || err1 != nil {
		t.Fatalf("times %q %q: %v %v", ff[0].At, ff[1].At, err0, err1)
	}
	if want := modbus.DefaultSerial.WireTime(len(ans)); at1.Sub(at0) != want {
		t.Errorf("request at %s, answer at %s: %s apart, want the answer's wire time %s", ff[0].At, ff[1].At, at1.Sub(at0), want)
	}
}

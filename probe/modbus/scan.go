package modbus

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ecdata/ectool/probe/serialport"
)

// ScanOptions configure Scan. Zero values take the documented defaults.
type ScanOptions struct {
	Target Target
	// Serial is the line's settings (rtu). For rtuovertcp they are the
	// settings behind the serial server, used only for wire-time windows.
	Serial SerialSettings
	// IDs are the addresses to probe (1-247).
	IDs []byte
	// Expect are the addresses that should answer (bus.expected; see expect.go).
	Expect []byte
	// Probe is the request that asks each address (default FC 03 register 0).
	Probe ProbeSpec
	// Thorough re-probes silent addresses with FC 04 and FC 0x11.
	Thorough bool
	// Timeout is per request: 100 ms on serial, 1 s on tcp by default.
	Timeout time.Duration
	// AutoTimeout is --timeout auto (serial lines only: rtu, rtuovertcp):
	// the sweep waits as long as the line and the answers so far say, and
	// asks again with a long wait where the line shows a late answer or
	// bytes nothing explains (autowait.go). Timeout is then ignored.
	AutoTimeout bool
	// Retries re-sends a request that got no answer at all.
	Retries int
	// Listen is how long to listen before the first request (default 3 s;
	// negative: not at all).
	Listen time.Duration
	// Confirm is how many polls each found address gets to look for a
	// collision (default 5; negative: none).
	Confirm int
	// IDRegister, when >= 0, is the address of a register holding a serial
	// number: confirm polls read it (two registers) so two devices show as
	// two serial numbers.
	IDRegister int
	// IDTable is IDRegister's table: holding (the default, TableUnset) or
	// input.
	IDTable Table
	// Force opens a port another process holds (it breaks that process's
	// traffic). It never switches off another safety.
	Force bool
	// TalkOverMaster keeps scanning when another master is heard on the bus
	// (a warning instead of a stop): ectool's requests then collide with
	// its polls now and then.
	TalkOverMaster bool
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Progress, when set, is called after each address and phase.
	Progress func(Progress)
	// Open, when set, is used instead of opening Target (the lab, tests).
	Open func() (Port, error)
}

// Errors of Scan (besides serialport.Open's): the scan could not
// run at all.
var (
	// ErrUnreachable: a TCP target refused or did not answer the connection.
	ErrUnreachable = errors.New("bus target unreachable")
	// ErrBusIO: the port failed or vanished mid-scan.
	ErrBusIO = errors.New("bus I/O error")
)

// TargetError is an error of a scan or sniff of a TCP target, carrying the
// transport so the hint names the right device: a Modbus TCP gateway
// (tcp://) or a transparent serial server (rtuovertcp://).
type TargetError struct {
	Transport Transport
	Addr      string
	Err       error
}

func (e *TargetError) Error() string { return e.Err.Error() }

// Unwrap makes errors.Is(err, ErrUnreachable) and ErrBusIO see through.
func (e *TargetError) Unwrap() error { return e.Err }

// targetError wraps err of a scan of t (nil stays nil; serial ports need
// no wrapping, their errors name the device already).
func targetError(t Target, err error) error {
	if err == nil || t.Transport == TransportRTU {
		return err
	}
	return &TargetError{Transport: t.Transport, Addr: t.Addr, Err: err}
}

func (o *ScanOptions) defaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Serial.Baud == 0 {
		o.Serial = DefaultSerial
	}
	if len(o.IDs) == 0 {
		for i := 1; i <= 247; i++ {
			o.IDs = append(o.IDs, byte(i))
		}
	}
	if o.Probe.Function == 0 {
		o.Probe = DefaultProbe
	}
	if o.AutoTimeout && o.Target.Serial() {
		o.Timeout = autoConfirm
	}
	if o.Timeout == 0 {
		o.Timeout = 100 * time.Millisecond
		if o.Target.Transport == TransportTCP {
			o.Timeout = time.Second
		}
	}
	if o.Listen == 0 {
		o.Listen = 3 * time.Second
	}
	if o.Confirm == 0 {
		o.Confirm = 5
	}
}

// idsString renders ids as ranges: 1-10,17.
func idsString(ids []byte) string {
	s := append([]byte(nil), ids...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var parts []string
	for i := 0; i < len(s); {
		j := i
		for j+1 < len(s) && s[j+1] == s[j]+1 {
			j++
		}
		if i == j {
			parts = append(parts, fmt.Sprint(s[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", s[i], s[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

func (o *ScanOptions) settings() Settings {
	st := Settings{
		Transport: string(o.Target.Transport), IDs: idsString(o.IDs), Probe: o.Probe.String(),
		Thorough: o.Thorough, TimeoutMS: ms(o.Timeout), Retries: o.Retries,
		Confirm: max(0, o.Confirm), ListenMS: ms(max(0, o.Listen)), Forced: o.Force,
		TalkOverMaster: o.TalkOverMaster, TimeoutAuto: o.AutoTimeout && o.Target.Serial(),
	}
	st.Expect = idsString(o.Expect)
	if o.Target.Serial() {
		s := o.Serial
		st.Serial = &s
	}
	if o.IDRegister >= 0 {
		r := o.IDRegister
		st.IDRegister = &r
		st.IDRegisterTable = o.IDTable.or(TableHolding).String()
	}
	return st
}

// Scan finds the devices on a bus and looks for address collisions. It
// returns an error only when it could not run (port missing, busy or held,
// connection refused, I/O error); everything it found is in the Result.
func Scan(ctx context.Context, o ScanOptions) (*Result, error) {
	res, err := scan(ctx, o)
	return res, kinded(err)
}

func scan(ctx context.Context, o ScanOptions) (*Result, error) {
	o.defaults()
	res := &Result{Target: o.Target.String(), Settings: o.settings(), Devices: []Device{}, Findings: []Finding{}}
	if o.Target.Transport == TransportTCP {
		_, err := scanTCP(ctx, o, res)
		return res, targetError(o.Target, err)
	}
	port, err := openRTU(&o, res)
	if err != nil {
		return res, targetError(o.Target, err)
	}
	bus := newRTUBus(port, o.Serial, o.Now)
	defer bus.close()
	s := &rtuScanner{o: o, bus: bus, res: res, units: map[byte]*unitState{}, exch: map[exKey]*exchange{}}
	if o.AutoTimeout {
		s.auto = newAutoWait(o.Serial, o.Probe.PDU())
	}
	err = s.run(ctx)
	if s.auto != nil {
		s.auto.summary(&res.Sweep)
	}
	res.Bus.Echo = bus.echoSeen
	res.Bus.NoiseBytes = bus.noiseBytes
	res.Bus.noteHost(&bus.watch)
	return res, targetError(o.Target, err)
}

func openRTU(o *ScanOptions, res *Result) (Port, error) {
	if o.Open != nil {
		return o.Open()
	}
	if o.Target.Transport == TransportRTUOverTCP {
		p, err := DialRTUOverTCP(o.Target.Addr, max(3*time.Second, o.Timeout))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
		}
		return p, nil
	}
	p, op, err := serialport.Open(o.Target.Path, o.Serial, serialport.Options{Force: o.Force, LowLatency: true})
	res.Settings.Bridges, res.Settings.ForcedPast, res.Settings.LatencyTimer = op.Bridges, op.ForcedPast, op.LatencyTimer
	if err != nil {
		return nil, err
	}
	return p, nil
}

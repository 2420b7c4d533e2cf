package modbus_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	smb "github.com/simonvetter/modbus"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/internal/testenv"
)

// debianPython is Debian's python3, which has python3-pymodbus 3.0.0;
// a python3 earlier on PATH (pyenv) does not.
const debianPython = "/usr/bin/python3"

// startPymodbus runs testdata/pymodbus_slave.py and waits for "ready".
func startPymodbus(t *testing.T, args ...string) {
	t.Helper()
	if _, err := os.Stat(debianPython); err != nil {
		testenv.Missing(t, "%s is missing (apt-get install python3-pymodbus)", debianPython)
	}
	if err := exec.Command(debianPython, "-c", "import pymodbus.server, serial_asyncio").Run(); err != nil {
		testenv.Missing(t, "python3-pymodbus (with python3-serial-asyncio) is not installed for %s", debianPython)
	}
	cmd := exec.Command(debianPython, append([]string{"testdata/pymodbus_slave.py"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == "ready" {
				ready <- true
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("pymodbus slave exited before it was ready")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("pymodbus slave not ready after 20s")
	}
}

// socatPair makes two linked PTYs, like two adapters on one cable.
func socatPair(t *testing.T) (a, b string) {
	t.Helper()
	socat := testenv.Require(t, "socat")
	dir := t.TempDir()
	a, b = filepath.Join(dir, "a"), filepath.Join(dir, "b")
	cmd := exec.Command(socat, "pty,raw,echo=0,link="+a, "pty,raw,echo=0,link="+b)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(b); err == nil {
			if _, err := os.Stat(a); err == nil {
				return a, b
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("socat made no PTYs")
	return "", ""
}

func TestScanFindsPymodbusSlavesOnASerialLine(t *testing.T) {
	a, b := socatPair(t)
	startPymodbus(t, "serial", b, "1,17")
	// socat keeps a's slave open, and its master: it is the other end of
	// the wire, not a program competing for the port.
	res := scan(t, scanOpts(a, []byte{1, 2, 16, 17, 18}))
	if got := verdicts(res); got != "1:ok 17:ok" {
		t.Fatalf("verdicts %q%s", got, explain(res))
	}
	if len(res.Settings.Bridges) != 1 || res.Settings.Bridges[0].Command != "socat" || res.Settings.Forced {
		t.Errorf("bridges %+v forced %v: want socat named as the other end, no --force", res.Settings.Bridges, res.Settings.Forced)
	}
	d := res.Device(17)
	if d.Identity == nil || d.Identity.Vendor != "pymodbus-1,17" {
		t.Errorf("identity %+v, want vendor pymodbus-1,17", d.Identity)
	}
	if res.Bus.ForeignMaster || res.Bus.CRCErrors != 0 {
		t.Errorf("bus %+v", res.Bus)
	}
}

func TestScanFindsPymodbusSlavesOverTCP(t *testing.T) {
	port := testenv.FreePort(t)
	startPymodbus(t, "tcp", fmt.Sprint(port), "1,17")
	// pymodbus binds in serve_forever, just after saying ready.
	if err := testenv.WaitPort(fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	o := scanOpts(fmt.Sprintf("tcp://127.0.0.1:%d", port), []byte{1, 2, 17})
	res := scan(t, o)
	if got := verdicts(res); got != "1:ok 17:ok" {
		t.Fatalf("verdicts %q%s", got, explain(res))
	}
	if id := res.Device(1).Identity; id == nil || id.Vendor != "pymodbus-1,17" {
		t.Errorf("identity %+v", id)
	}
}

// gateway is a Modbus TCP gateway on simonvetter/modbus's server: units 1
// and 17 exist, the others get exception 0x0B; unit 40 has no route (0x0A);
// unit 30 has input registers only (its holding-register reads time out
// behind the gateway: 0x0B).
type gateway struct{}

func (gateway) unit(u uint8) error {
	switch u {
	case 1, 17:
		return nil
	case 40:
		return smb.ErrGWPathUnavailable
	}
	return smb.ErrGWTargetFailedToRespond
}

func (g gateway) HandleCoils(r *smb.CoilsRequest) ([]bool, error) {
	return make([]bool, r.Quantity), g.unit(r.UnitId)
}

func (g gateway) HandleDiscreteInputs(r *smb.DiscreteInputsRequest) ([]bool, error) {
	return make([]bool, r.Quantity), g.unit(r.UnitId)
}

func (g gateway) HandleHoldingRegisters(r *smb.HoldingRegistersRequest) ([]uint16, error) {
	if r.UnitId == 30 {
		return nil, smb.ErrGWTargetFailedToRespond
	}
	if err := g.unit(r.UnitId); err != nil {
		return nil, err
	}
	if r.IsWrite {
		return nil, smb.ErrIllegalFunction
	}
	regs := make([]uint16, r.Quantity)
	for i := range regs {
		regs[i] = uint16(r.UnitId)*100 + r.Addr + uint16(i)
	}
	return regs, nil
}

func (g gateway) HandleInputRegisters(r *smb.InputRegistersRequest) ([]uint16, error) {
	if r.UnitId == 30 {
		return make([]uint16, r.Quantity), nil
	}
	return make([]uint16, r.Quantity), g.unit(r.UnitId)
}

func startSimonvetterGateway(t *testing.T) string {
	t.Helper()
	var srv *smb.ModbusServer
	var addr string
	for try := 0; ; try++ {
		addr = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		var err error
		srv, err = smb.NewServer(&smb.ServerConfiguration{URL: "tcp://" + addr, Timeout: 10 * time.Second, MaxClients: 4}, gateway{})
		if err == nil {
			err = srv.Start()
		}
		if err == nil {
			break
		}
		if try == 5 {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { srv.Stop() })
	return addr
}

func TestScanFindsUnitsBehindASimonvetterGateway(t *testing.T) {
	addr := startSimonvetterGateway(t)
	res := scan(t, scanOpts("tcp://"+addr, []byte{1, 2, 3, 17, 30, 40}))
	if got := verdicts(res); got != "1:ok 17:ok" {
		t.Fatalf("verdicts %q%s", got, explain(res))
	}
	f := res.Finding("gateway")
	if f == nil || f.Status != report.Warning || !strings.Contains(f.Message, "40") {
		t.Fatalf("findings %+v: want unit 40 path unavailable", res.Findings)
	}
	if d := res.Device(1); d.Identity != nil {
		t.Errorf("simonvetter answers FC 0x11 and 0x2B with exceptions, identity %+v", d.Identity)
	}
}

func TestThoroughFindsAUnitThatOnlyHasInputRegisters(t *testing.T) {
	addr := startSimonvetterGateway(t)
	o := scanOpts("tcp://"+addr, []byte{29, 30, 31})
	o.Thorough = true
	res := scan(t, o)
	d := res.Device(30)
	if got := verdicts(res); got != "30:ok" || d.FoundBy != "fc04" {
		t.Fatalf("verdicts %q%s", got, explain(res))
	}
}

package bus

import (
	"context"
	"encoding/json"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/internal/testenv"
)

// Independent masters against the lab bus: mbpoll (libmodbus) and Debian's
// python3-pymodbus 3.0.0. If they read the meters, the lab speaks Modbus as
// the field does, not just as ectool's own codec thinks it does.

var mbpollValue = regexp.MustCompile(`(?m)^\[(\d+)\]:\s+(-?\d+)`)

// mbpoll runs mbpoll once and returns the registers it printed (by 1-based
// reference), its output and whether it exited 0.
func mbpoll(t *testing.T, args ...string) (map[int]int, string, bool) {
	t.Helper()
	bin := testenv.Require(t, "mbpoll")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append([]string{"-1", "-o", "1"}, args...)...).CombinedOutput()
	regs := map[int]int{}
	for _, m := range mbpollValue.FindAllStringSubmatch(string(out), -1) {
		r, _ := strconv.Atoi(m[1])
		v, _ := strconv.Atoi(m[2])
		regs[r] = v
	}
	return regs, string(out), err == nil
}

func serialOf(regs map[int]int) int { return regs[17]<<16 | regs[18] }

var mbpollFloat = regexp.MustCompile(`(?m)^\[(\d+)\]:\s+(\S+)`)

// mbpollFloats are the values mbpoll -t 3:float printed, by reference.
func mbpollFloats(out string) map[int]float64 {
	vals := map[int]float64{}
	for _, m := range mbpollFloat.FindAllStringSubmatch(out, -1) {
		r, _ := strconv.Atoi(m[1])
		if v, err := strconv.ParseFloat(m[2], 64); err == nil {
			vals[r] = v
		}
	}
	return vals
}

func startGateway(t *testing.T, b *Bus) (host, port string) {
	t.Helper()
	g, err := b.ServeGateway("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	host, port, _ = net.SplitHostPort(g.Addr())
	return host, port
}

func TestMbpollReadsMetersThroughTheGateway(t *testing.T) {
	b := startBus(t, "default")
	host, port := startGateway(t, b)
	regs, out, ok := mbpoll(t, "-m", "tcp", "-p", port, "-a", "1", "-t", "4", "-r", "17", "-c", "2", host)
	if !ok || serialOf(regs) != 11930231 {
		t.Fatalf("unit 1 through the gateway: serial %d, want 11930231\n%s", serialOf(regs), out)
	}
	regs, out, ok = mbpoll(t, "-m", "tcp", "-p", port, "-a", "3", "-t", "3", "-r", "1", "-c", "8", host)
	if !ok || len(regs) != 8 || regs[8] < 4900 || regs[8] > 5100 {
		t.Fatalf("unit 3 input registers: %v (frequency %d)\n%s", regs, regs[8], out)
	}
}

// wantGatewayException reads two holding registers of unit through the
// lab gateway of a bus running scenario, and stops the test unless mbpoll
// fails with words, its name for the exception the gateway answered.
func wantGatewayException(t *testing.T, scenario, unit, words string) {
	t.Helper()
	b := startBus(t, scenario)
	host, port := startGateway(t, b)
	_, out, ok := mbpoll(t, "-m", "tcp", "-p", port, "-a", unit, "-t", "4", "-r", "1", "-c", "2", host)
	if ok || !strings.Contains(out, words) {
		t.Fatalf("%s bus, unit %s through the gateway: want mbpoll to fail with %q\n%s", scenario, unit, words, out)
	}
}

func TestGatewayAnswers0x0BForAnAbsentUnit(t *testing.T) {
	wantGatewayException(t, "default", "42", "Target device failed to respond")
}

// Overlapping answers never make it through a gateway: it sees a frame with
// a bad CRC and reports the unit as not answering (0x0B).
func TestGatewayReportsCollidedUnitAsNotResponding(t *testing.T) {
	wantGatewayException(t, "default", "17", "Target device failed to respond")
}

func TestGatewayWithoutABusAnswers0x0A(t *testing.T) {
	wantGatewayException(t, "gateway-down", "1", "Gateway path unavailable")
}

type pyResult struct {
	Unit      int    `json:"unit"`
	Serial    int    `json:"serial"`
	ServerID  string `json:"server_id"`
	Vendor    string `json:"vendor"`
	Product   string `json:"product"`
	Exception int    `json:"exception"`
	Error     string `json:"error"`
	// What a failed 0x11 or 0x2B read answered, so a failure says why.
	ServerIDError map[string]any `json:"server_id_error"`
	IdentityError any            `json:"identity_error"`
}

// pymodbus runs testdata/pymodbus_master.py and returns one result per unit.
func pymodbus(t *testing.T, args ...string) map[int]pyResult {
	t.Helper()
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import pymodbus.client").Run(); err != nil {
		testenv.Missing(t, "python3-pymodbus is not installed for /usr/bin/python3 (apt-get install python3-pymodbus)")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, append([]string{"testdata/pymodbus_master.py"}, args...)...).Output()
	if err != nil {
		t.Fatalf("pymodbus master %v: %v\n%s", args, err, out)
	}
	res := map[int]pyResult{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var r pyResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("pymodbus master printed %q: %v", line, err)
		}
		res[r.Unit] = r
	}
	return res
}

func TestPymodbusReadsMetersAndIdentityThroughTheGateway(t *testing.T) {
	b := startBus(t, "default")
	host, port := startGateway(t, b)
	res := pymodbus(t, "tcp", host, port, "1", "2", "42")
	if r := res[2]; r.Serial != 20214417 || r.Vendor != "Eastron" || r.Product != "SDM630" || !strings.Contains(r.ServerID, "S/N 20214417") {
		t.Errorf("unit 2: %+v", r)
	}
	if r := res[1]; r.Serial != 11930231 || r.Vendor != "Carlo Gavazzi" {
		t.Errorf("unit 1: %+v", r)
	}
	if r := res[42]; r.Exception != 0x0B {
		t.Errorf("absent unit 42: %+v, want exception 11", r)
	}
}

func TestPymodbusOverRTUOverTCP(t *testing.T) {
	b := startBus(t, "default")
	s, err := b.ServeRTUOverTCP("")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	host, port, _ := net.SplitHostPort(s.Addr())
	res := pymodbus(t, "rtuovertcp", host, port, "1", "3", "17")
	if r := res[3]; r.Serial != 31100873 || r.Vendor != "Schneider Electric" {
		t.Errorf("unit 3 over rtuovertcp: %+v", r)
	}
	if r := res[1]; r.Serial != 11930231 {
		t.Errorf("unit 1 over rtuovertcp: %+v", r)
	}
	if r := res[17]; r.Error == "" {
		t.Errorf("collided unit 17 over rtuovertcp read cleanly: %+v", r)
	}
}

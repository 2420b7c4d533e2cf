package main

import (
	"encoding/json"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/ecdata/ectool/internal/testenv"
)

func TestLabRefusesBadBusFlagsBeforeStarting(t *testing.T) {
	for _, args := range [][]string{
		{"lab", "--bus-scenario", "nope"},
		{"lab", "--bus-settings", "9600 9X1"},
		{"lab", "tour", "--bus-scenario", "nope"},
	} {
		code, out, errOut := runMain(t, args...)
		if code != ExitUsage || out != "" || !strings.Contains(errOut, "--bus-") {
			t.Errorf("ectool %v: exit %d, stdout %q, stderr %q; want exit 2 naming the flag", args, code, out, errOut)
		}
		if lines := testenv.Lines(errOut); len(lines) != 1 {
			t.Errorf("ectool %v: want one line on stderr, got %q", args, errOut)
		}
	}
}

// --port-base fixes the bus's ports at BASE+10 (rtuovertcp) and BASE+11
// (gateway): one taken is exit 3 naming it and --port-base.
func TestLabBusOnATakenPortCannotRun(t *testing.T) {
	var taken net.Listener
	base := 0
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := ln.Addr().(*net.TCPAddr).Port
		// Every other port the lab opens before the bus's must be free, or
		// it fails on that one instead.
		if p-10 >= 1024 && free(p-10, p-9, p-8, p-7, p+1) {
			taken, base = ln, p-10
			break
		}
		ln.Close()
	}
	if taken == nil {
		t.Fatal("no block of free ports found in 20 tries: the test's namespace is crowded")
	}
	defer taken.Close()
	code, _, errOut := runMain(t, "lab", "--port-base", strconv.Itoa(base), "--duration", "1s")
	port := strconv.Itoa(base + 10)
	if code != ExitCannotRun || !strings.Contains(errOut, port) || !strings.Contains(errOut, "--port-base") {
		t.Errorf("bus on a taken port: exit %d, stderr %q; want exit 3 naming %s and --port-base", code, errOut, port)
	}
}

func free(ports ...int) bool {
	for _, p := range ports {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			return false
		}
		ln.Close()
	}
	return true
}

func TestLabPrintsTheBusEndpoints(t *testing.T) {
	code, out, errOut := runMain(t, "lab", "-o", "json", "--duration", "300ms", "--bus-scenario", "staggered")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var ep struct {
		Bus struct {
			Scenario   string `json:"scenario"`
			Settings   string `json:"settings"`
			RTUOverTCP string `json:"rtuovertcp"`
			ModbusTCP  string `json:"modbus_tcp"`
			PTY        string `json:"pty"`
			Collided   []int  `json:"collided_unit_ids"`
			Meters     []struct {
				UnitID int `json:"unit_id"`
			} `json:"meters"`
		} `json:"bus"`
	}
	if err := json.Unmarshal([]byte(out), &ep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	b := ep.Bus
	if b.Scenario != "staggered" || b.Settings != "9600 8N1" || !strings.HasPrefix(b.RTUOverTCP, "rtuovertcp://") ||
		!strings.HasPrefix(b.ModbusTCP, "tcp://") || len(b.Meters) != 5 || len(b.Collided) != 1 {
		t.Errorf("bus endpoints: %+v", b)
	}
	if (runtime.GOOS == "linux" || runtime.GOOS == "darwin") && !strings.HasPrefix(b.PTY, "/dev/") {
		t.Errorf("no PTY on %s: %+v", runtime.GOOS, b)
	}
	code, out, _ = runMain(t, "lab", "--duration", "300ms")
	if code != 0 || !strings.Contains(out, "RS-485 Modbus bus, scenario default, 9600 8N1") || !strings.Contains(out, "ectool scan rtuovertcp://") {
		t.Errorf("text endpoints lack the bus:\n%s", out)
	}
}

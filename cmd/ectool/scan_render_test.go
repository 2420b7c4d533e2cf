package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ecdata/ectool/internal/testenv"
	"github.com/ecdata/ectool/lab/bus/bustest"
	"github.com/ecdata/ectool/probe/modbus"
)

func TestDeviceTableKeepsSerialNumbersAndNamesADeviceOnce(t *testing.T) {
	long := modbus.Device{UnitID: 3, Verdict: modbus.VerdictOK, Identity: &modbus.Identity{
		Vendor: "Schneider Electric", Product: "iEM3255", Revision: "3.0.12",
		ServerIDText: "Schneider Electric iEM3255 3.0.12 S/N 31100873", IDRegister: "0401da8fc9"}}
	acme := modbus.Device{UnitID: 4, Verdict: modbus.VerdictOK, Identity: &modbus.Identity{Vendor: "Acme", Product: "Acme EM-1"}}
	var out bytes.Buffer
	writeDeviceTable(&out, []modbus.Device{long, acme})
	rows := testenv.Lines(out.String())
	if !strings.HasSuffix(rows[1], "Schneider Electric iEM3255 3.0.12, S/N 31100873, id register 31100873 (0x01da8fc9)") {
		t.Errorf("identity cut or repeated:\n%s", out.String())
	}
	if !strings.HasSuffix(rows[2], "  Acme EM-1") {
		t.Errorf("vendor said twice:\n%s", out.String())
	}
}

// Twins at one address told two serial numbers (FC 0x11 and the id
// register): the table shows both, each beside the unit. The lab's
// alternating twins answer in turns, so each answer is whole.
func TestDeviceTableShowsBothIdentitiesOfACollision(t *testing.T) {
	_, pty := bustest.StartPTY(t, "alternating")
	code, out, errOut := runMain(t, "scan", pty.Path(), "--ids", "17", "--listen", "0", "--timeout", "250ms", "--id-register", "40017")
	if code != ExitProblem {
		t.Fatalf("exit %d, want 1 (a collision)\n%s\n%s", code, out, errOut)
	}
	table, _, _ := strings.Cut(out, "\n\n")
	lines := testenv.Lines(table)
	if !strings.Contains(lines[1], "collision") {
		t.Fatalf("no collision row:\n%s", out)
	}
	// The lab's twins at 17 are Eastron SDM120s with serials 17000451 and
	// 17000982, in their server ids and in holding register 40017.
	for _, want := range []string{"S/N 17000451", "S/N 17000982", "id register 17000451", "id register 17000982"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if strings.Count(lines[1], "Eastron") != 1 || strings.Contains(out, "…") {
		t.Errorf("identity repeated or cut:\n%s", table)
	}
}

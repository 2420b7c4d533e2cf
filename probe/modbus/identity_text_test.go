package modbus

import "testing"

func TestIdentityStringSaysEachWordOnce(t *testing.T) {
	for _, c := range []struct {
		id   Identity
		want string
	}{
		{Identity{Vendor: "Acme", Product: "Acme EM-1", Revision: "1.0"}, "Acme EM-1 1.0"},
		{Identity{Vendor: "Carlo Gavazzi", Product: "EM340", Revision: "2.1", ServerIDText: "Carlo Gavazzi EM340 2.1 S/N 11930231",
			IDRegister: "0400b60a77"}, "Carlo Gavazzi EM340 2.1, S/N 11930231, id register 11930231 (0x00b60a77)"},
		{Identity{Vendor: "ABB", Product: "B23", ServerIDText: "meter 7"}, "ABB B23, server id meter 7"},
		{Identity{Vendor: "ABB", Product: "B23", ServerIDText: "ABB B23"}, "ABB B23"},
		{Identity{ServerID: "00ff", IDRegister: "02002a"}, "server id 0x00ff, id register 42 (0x002a)"},
		{Identity{IDRegister: "0600010002000300"}, "id register 0x0600010002000300"},
	} {
		if got := c.id.String(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.id, got, c.want)
		}
	}
}

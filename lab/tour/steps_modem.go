package tour

import (
	"context"
	"fmt"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/lab"
)

// The step on the lab's cellular modem: the commonest trap, a good signal
// and a registered modem whose data context has no address because its
// APN is wrong.

// wrongAPN is the modem scenario the step shows (the lab's default).
const wrongAPN = "wrong-apn"

// modemDetails is what the tour reads of `probe modem -o json`'s details.
type modemDetails struct {
	Modem struct {
		PDP struct {
			Contexts []struct {
				CID       int      `json:"cid"`
				APN       string   `json:"apn"`
				Addresses []string `json:"addresses"`
			} `json:"contexts"`
		} `json:"pdp"`
		ExpectedAPN string `json:"expected_apn"`
	} `json:"modem"`
}

func stepModemAPN(ctx context.Context, tr *Tour) Verdict {
	m := tr.EP.Modem
	switch {
	case m == nil:
		return skip("the lab runs without its modem")
	case m.Scenario != wrongAPN:
		return skip("the lab's modem plays %s; this step shows %s (the default)", m.Scenario, wrongAPN)
	}
	port := m.TCP
	if m.PTYLink != "" {
		port = m.PTYLink // opened like a USB modem's ttyUSB port
	}
	c := tr.Run(ctx, "probe", "modem", "--port", port, "--apn", m.ExpectedAPN)
	return judgeModemAPN(c, m)
}

// judgeModemAPN wants exit 1 and modem.pdp failed, naming both the APN the
// modem uses (with no address) and the one the site expects.
func judgeModemAPN(c *Command, m *lab.ModemEndpoints) Verdict {
	d, v := wantReport(c, 1, map[string]report.Status{"modem.registration": ok, "modem.pdp": failed})
	if v.failed() {
		v.Hint = "the modem is registered but its data context has no address"
		return v
	}
	v = Verdict{}.with("apn", m.APN, "expected_apn", m.ExpectedAPN)
	if got := d.Check("modem.pdp").Evidence["expected_apn"]; got != m.ExpectedAPN {
		v.Problem = fmt.Sprintf("modem.pdp names %v as the expected APN, want %q", got, m.ExpectedAPN)
		return v
	}
	var md modemDetails
	if err := d.DetailsInto(&md); err != nil {
		v.Problem = "probe modem: " + err.Error()
		return v
	}
	for _, x := range md.Modem.PDP.Contexts {
		if x.APN == m.APN && len(x.Addresses) == 0 {
			return v.with("context", x.CID)
		}
	}
	v.Problem = fmt.Sprintf("the report lists no data context with the modem's APN %q and no address", m.APN)
	return v
}

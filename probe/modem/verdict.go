package modem

import (
	"strings"

	"github.com/ecdata/ectool/diag/report"
)

// verdictOrder is the order facts are told in the verdict: how the modem is
// attached, then how well, then the data path.
var verdictOrder = []string{CheckPort, CheckSIM, CheckRegistration, CheckSignal, CheckPDP}

// verdict is one sentence: what holds, then the first thing that breaks and
// why ("registered (home, LTE), signal -71 dBm good, but PDP context 1 with
// APN 'internet' has no IP address: the APN is probably wrong (expected
// 'm2m.example')").
func (r *Result) verdict() string {
	status := map[string]report.Status{}
	first := ""
	for _, c := range r.Checks {
		status[c.ID] = c.Status
		if c.Status == report.Failed && first == "" {
			first = c.ID
		}
	}
	var good []string
	for _, id := range verdictOrder {
		if id == CheckPort || id == CheckSIM {
			continue // stated only when they fail
		}
		if s := status[id]; (s == report.OK || s == report.Warning) && r.summaries[id] != "" {
			good = append(good, r.summaries[id])
		}
	}
	if first == "" {
		if len(good) == 0 {
			return "nothing failed"
		}
		return strings.Join(good, ", ") + ": the data path through the modem is up"
	}
	bad := r.summaries[first]
	if bad == "" {
		bad = first + " failed"
	}
	if len(good) == 0 {
		return bad
	}
	return strings.Join(good, ", ") + ", but " + bad
}

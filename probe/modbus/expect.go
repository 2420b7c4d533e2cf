package modbus

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ecdata/ectool/diag/report"
)

// CheckExpected is bus.expected: the addresses that answer are the ones
// --expect names (listed in docs/checks.md). It is emitted only with
// --expect: a bus has no plan to hold it to otherwise.
const CheckExpected = "bus.expected"

const expectedTitle = "the expected addresses answer, and no other"

// ParseExpect reads --expect in --ids' notation (1-3,17,40); "" is no
// expectation (nil). When ids is not nil (scan), every expected address
// must be among them: an address never asked could not be called missing.
func ParseExpect(s string, ids []byte) ([]byte, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	exp, err := ParseIDs(s)
	if err != nil {
		return nil, err
	}
	if ids == nil {
		return exp, nil
	}
	in := map[byte]bool{}
	for _, id := range ids {
		in[id] = true
	}
	var out []byte
	for _, id := range exp {
		if !in[id] {
			out = append(out, id)
		}
	}
	if len(out) > 0 {
		return nil, fmt.Errorf("%s not among the addresses --ids %s probes: widen --ids (the default 1-247 covers every address)", idsString(out), idsString(ids))
	}
	return exp, nil
}

// presence is what a bus showed of the addresses a plan expects: the
// input of bus.expected, whether a scan or a sniff heard it.
type presence struct {
	expected []int
	// found are the addresses that answered, with their verdicts.
	found map[int]Verdict
	// unasked are expected addresses never asked (sniff: the master did
	// not poll them), a subset of those missing.
	unasked []int
	// incomplete, when set, says why silence proves nothing: the sweep
	// stopped before every address was probed.
	incomplete string
	// silentWhy says what the silence was (did not answer a probe, was
	// polled in vain) and hintMissing the next step, worded for the
	// command (scan probes, sniff listens).
	silentWhy, hintMissing string
}

// ExpectedCheck is bus.expected for a finished scan, built from the scan's
// own result: ok when exactly the expected addresses answered; failed
// naming each expected address that stayed silent; a warning naming each
// address that answered unexpected. A collision (or a suspect or erring
// device) at an expected address counts as present here: its own
// bus.unit<N> fails it. rep holds the checks already added, so it is
// skipped when bus.sweep did not run. ok is false without --expect.
func (r *Result) ExpectedCheck(rep *report.Report, err error) (c report.Check, ok bool) {
	exp, perr := ParseIDs(r.Settings.Expect)
	if r.Settings.Expect == "" || perr != nil {
		return report.Check{}, false
	}
	if why := dependencyNotRun(rep, CheckSweep); why != "" {
		return skippedExpected(why), true
	}
	p := presence{expected: addrInts(exp), found: map[int]Verdict{},
		silentWhy: " did not answer", hintMissing: "check each silent meter's power, the address set on it (its display or DIP switches), serial settings that match the bus (baud rate, parity) and its A/B wiring; a meter that answers only FC 04 shows with --probe fc04 or --thorough"}
	for _, d := range r.Devices {
		p.found[d.UnitID] = d.Verdict
	}
	switch {
	case err != nil:
		p.incomplete = "the scan stopped on an error"
	case r.Stopped == "foreign_master":
		p.incomplete = "the sweep stopped when another master was heard"
	case r.Stopped != "":
		p.incomplete = "the sweep was " + r.Stopped
	case !r.Sweep.Complete:
		p.incomplete = "the sweep did not probe every address"
	}
	return p.check(), true
}

// ExpectedCheck is bus.expected for a sniff: an expected address is
// present when it answered the master at least once (a garbled or double
// answer included); one the master polls in vain, or never polls within
// --duration, is missing. ok is false without --expect.
func (r *SniffResult) ExpectedCheck(rep *report.Report, err error) (c report.Check, ok bool) {
	exp, perr := ParseIDs(r.Settings.Expect)
	if r.Settings.Expect == "" || perr != nil {
		return report.Check{}, false
	}
	if why := dependencyNotRun(rep, CheckSniff); why != "" {
		return skippedExpected(why), true
	}
	p := presence{expected: addrInts(exp), found: map[int]Verdict{},
		silentWhy: ", polled by the master in vain", hintMissing: "a dead or unpowered meter, one set to another address or other serial settings (check its display), or a break in the wiring to it"}
	polled := map[int]bool{}
	for _, d := range r.Devices {
		polled[d.UnitID] = d.Requests > 0
		if d.Responses > 0 || d.DoubleAnswers > 0 || d.CRCErrors > 0 {
			p.found[d.UnitID] = d.Verdict
		}
	}
	for _, u := range p.expected {
		if !polled[u] && p.found[u] == "" {
			p.unasked = append(p.unasked, u)
		}
	}
	if err != nil {
		p.incomplete = "listening stopped on an error"
	}
	return p.check(), true
}

// check grades the expectation. Silence fails only when it proves
// something: after a sweep that stopped early, an expected address not
// heard may never have been asked, and is a warning (unconfirmed).
func (p presence) check() report.Check {
	want := map[int]bool{}
	for _, u := range p.expected {
		want[u] = true
	}
	found := make([]int, 0, len(p.found))
	for u := range p.found {
		found = append(found, u)
	}
	sort.Ints(found)
	missing, unexpected, unconfirmed := []int{}, []int{}, []int{}
	var elsewhere []string
	for _, u := range p.expected {
		v, ok := p.found[u]
		switch {
		case !ok && p.incomplete != "":
			unconfirmed = append(unconfirmed, u)
		case !ok:
			missing = append(missing, u)
		case v != VerdictOK:
			// Present, but not one healthy device: bus.unit<N> fails it,
			// so it is not counted a second time here.
			elsewhere = append(elsewhere, fmt.Sprintf("%d: %s, failed in %s", u, v, UnitCheckID(u)))
		}
	}
	for _, u := range found {
		if !want[u] {
			unexpected = append(unexpected, u)
		}
	}
	c := report.Check{ID: CheckExpected, Title: expectedTitle, Status: report.OK, Evidence: map[string]any{
		"expected": p.expected, "found": found, "missing": missing, "unexpected": unexpected}}
	if len(elsewhere) > 0 {
		c.Evidence["failed_elsewhere"] = elsewhere
	}
	if len(p.unasked) > 0 && p.incomplete == "" {
		c.Evidence["not_polled"] = p.unasked
	}
	var hints []string
	if len(missing) > 0 {
		c.Status = report.Failed
		c.Title = fmt.Sprintf("expected %s silent: %s", addressesWord(len(missing)), listAddrs(missing))
		silent := without(missing, p.unasked)
		if len(silent) > 0 {
			hints = append(hints, fmt.Sprintf("expected %s %s%s: %s", addressesWord(len(silent)), listAddrs(silent), p.silentWhy, p.hintMissing))
		}
		if len(p.unasked) > 0 {
			hints = append(hints, fmt.Sprintf("the master never polled %s while ectool listened: not in its poll list, or its cycle is longer than --duration; sniff longer, or scan the bus with the master stopped", listAddrs(p.unasked)))
		}
		if len(unexpected) > 0 {
			hints = append(hints, fmt.Sprintf("%s %s answered, unexpected: a meter meant for %s may be set to a wrong address", addressesWord(len(unexpected)), listAddrs(unexpected), listAddrs(missing)))
		}
	}
	if len(unconfirmed) > 0 {
		c.Evidence["unconfirmed"] = unconfirmed
		c.Evidence["incomplete"] = p.incomplete
		if c.Status == report.OK {
			c.Status = report.Warning
		}
		hints = append(hints, fmt.Sprintf("%s: expected %s, not heard, may never have been asked; scan again", p.incomplete, listAddrs(unconfirmed)))
	}
	if len(unexpected) > 0 && len(missing) == 0 {
		if c.Status == report.OK {
			c.Status = report.Warning
		}
		hints = append(hints, fmt.Sprintf("%s %s answered, not expected: a meter missing from the plan (add it to --expect) or one set to a wrong address", addressesWord(len(unexpected)), listAddrs(unexpected)))
	}
	c.Hint = strings.Join(hints, "; ")
	return c
}

// dependencyNotRun is why the check a bus.expected depends on did not run ("" when
// it ran): bus.expected is skipped with it.
func dependencyNotRun(rep *report.Report, id string) string {
	for _, c := range rep.Checks {
		if c.ID != id {
			continue
		}
		if c.Status == report.Skipped {
			return id + " skipped: " + c.SkippedReason
		}
		return ""
	}
	return id + " did not run"
}

func skippedExpected(why string) report.Check {
	return report.Check{ID: CheckExpected, Title: expectedTitle, Status: report.Skipped, SkippedReason: why}
}

func addrInts(ids []byte) []int {
	out := make([]int, len(ids))
	for i, id := range ids {
		out[i] = int(id)
	}
	sort.Ints(out)
	return out
}

// listAddrs names addresses one by one (1, 2, 17), never as a range: each
// is a meter the technician goes to.
func listAddrs(us []int) string {
	s := make([]string, len(us))
	for i, u := range us {
		s[i] = fmt.Sprint(u)
	}
	return strings.Join(s, ", ")
}

func addressesWord(n int) string {
	if n == 1 {
		return "address"
	}
	return "addresses"
}

// without is us less the addresses in drop.
func without(us, drop []int) []int {
	out := []int{}
	for _, u := range us {
		found := false
		for _, d := range drop {
			found = found || d == u
		}
		if !found {
			out = append(out, u)
		}
	}
	return out
}

// addExpected adds bus.expected to a scan's report when --expect was given.
func (r *Result) addExpected(rep *report.Report, err error) {
	if c, ok := r.ExpectedCheck(rep, err); ok {
		rep.Add(c)
	}
}

// addExpected adds bus.expected to a sniff's report when --expect was given.
func (r *SniffResult) addExpected(rep *report.Report, err error) {
	if c, ok := r.ExpectedCheck(rep, err); ok {
		rep.Add(c)
	}
}

package modem

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ecdata/ectool/diag/exitcode"
)

// Scenario names what the simulated modem gets wrong.
type Scenario struct {
	Name        string
	Description string
}

var scenarios = []Scenario{
	{"wrong-apn", "registered (home, LTE), good signal, but the data context's APN is 'internet' and gets no IP address (the default)"},
	{"ok", "registered (home, LTE), good signal, the expected APN with an IP address"},
	{"no-sim", "no SIM in the slot"},
	{"pin-locked", "the SIM waits for its PIN (the lab's PIN file unlocks it; three wrong PINs block it)"},
	{"no-signal", "nothing measured: antenna off, searching"},
	{"registration-denied", "good signal, but the network refuses the SIM (reject cause 7: EPS services not allowed)"},
	{"roaming", "registered on a visited network, the expected APN with an IP address"},
	{"garbage", "answers every command with bytes that are not AT text (a wrong baud rate)"},
	{"mute", "answers the first commands, then nothing (a firmware hang)"},
}

// Scenarios lists the scenarios, the default first.
func Scenarios() []Scenario { return append([]Scenario(nil), scenarios...) }

// Dialects are the vendors the modem can answer as.
var Dialects = []string{"generic", "quectel", "sierra", "ublox", "telit"}

// Quirk names how the modem talks.
var Quirks = []string{"echo", "urc", "slow"}

// DefaultScenario is the scenario of an empty Config.
const DefaultScenario = "wrong-apn"

// Lab defaults: the APN the site expects, the APN the modem is left with
// in the wrong-apn scenario, and the SIM's PIN.
const (
	ExpectedAPN = "m2m.example"
	WrongAPN    = "internet"
	LabPIN      = "4711"
)

// Config describes the simulated modem. The zero value is the default
// scenario, generic dialect, no quirks.
type Config struct {
	Scenario string
	Dialect  string
	// Quirks: "echo" (echo on at start, as modems ship), "urc" (unsolicited
	// codes amid and between answers), "slow" (every answer late and in
	// pieces, +COPS? late by more than a second).
	Quirks []string
	// ExpectedAPN is the APN the site's SIM needs (default ExpectedAPN);
	// the modem is configured with it except in wrong-apn.
	ExpectedAPN string
	// PIN is the SIM's PIN (default LabPIN).
	PIN string
}

// Validate checks the names (a *FieldError naming the flag's field).
func (c Config) Validate() error {
	if c.Scenario != "" && !known(c.Scenario, scenarioNames()) {
		return &FieldError{"modem-scenario", fmt.Sprintf("%q: use %s", c.Scenario, strings.Join(scenarioNames(), ", "))}
	}
	if c.Dialect != "" && !known(c.Dialect, Dialects) {
		return &FieldError{"modem-dialect", fmt.Sprintf("%q: use %s", c.Dialect, strings.Join(Dialects, ", "))}
	}
	for _, q := range c.Quirks {
		if !known(q, Quirks) {
			return &FieldError{"modem-quirks", fmt.Sprintf("%q: use %s", q, strings.Join(Quirks, ", "))}
		}
	}
	if c.PIN != "" && (len(c.PIN) < 4 || len(c.PIN) > 8 || strings.Trim(c.PIN, "0123456789") != "") {
		return &FieldError{"modem-pin", "a PIN is 4 to 8 digits"}
	}
	return nil
}

// withDefaults fills the empty fields.
func (c Config) withDefaults() Config {
	if c.Scenario == "" {
		c.Scenario = DefaultScenario
	}
	if c.Dialect == "" {
		c.Dialect = "generic"
	}
	if c.ExpectedAPN == "" {
		c.ExpectedAPN = ExpectedAPN
	}
	if c.PIN == "" {
		c.PIN = LabPIN
	}
	q := append([]string(nil), c.Quirks...)
	sort.Strings(q)
	c.Quirks = q
	return c
}

func (c Config) has(quirk string) bool { return known(quirk, c.Quirks) }

// APN is the APN the modem's data context carries in this scenario.
func (c Config) APN() string {
	c = c.withDefaults()
	if c.Scenario == "wrong-apn" {
		return WrongAPN
	}
	return c.ExpectedAPN
}

// FieldError is a setting that cannot work, named like the `ectool lab`
// flag that sets it.
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// ExitKind is exitcode.KindUsage: a flag's value.
func (e *FieldError) ExitKind() exitcode.Kind { return exitcode.KindUsage }

func scenarioNames() []string {
	var n []string
	for _, s := range scenarios {
		n = append(n, s.Name)
	}
	return n
}

func known(s string, list []string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

package modem

import (
	"io"
	"time"

	"github.com/ecdata/ectool/diag/report"
)

// Check IDs of a modem probe (docs/checks.md).
const (
	CheckPort         = "modem.port"
	CheckSIM          = "modem.sim"
	CheckSignal       = "modem.signal"
	CheckRegistration = "modem.registration"
	CheckOperator     = "modem.operator"
	CheckPDP          = "modem.pdp"
)

// CheckOrder is the order the checks run and appear in a report.
var CheckOrder = []string{CheckPort, CheckSIM, CheckSignal, CheckRegistration, CheckOperator, CheckPDP}

var checkTitles = map[string]string{
	CheckPort:         "the modem answers on its AT port",
	CheckSIM:          "the SIM is present and unlocked",
	CheckSignal:       "the radio measures a usable signal",
	CheckRegistration: "the modem is registered for data",
	CheckOperator:     "the network operator",
	CheckPDP:          "a data context (PDP) has an IP address",
}

// CheckTitle is the title of a check ID.
func CheckTitle(id string) string { return checkTitles[id] }

// Options are the inputs of Probe and ProbeMMCLI.
type Options struct {
	// Port is the open AT port (a serial device or a TCP raw AT port). The
	// caller opens and closes it; Probe never does.
	Port io.ReadWriter
	// Target names the port in the report ("/dev/ttyUSB2", "tcp://...").
	Target string
	// PortEvidence is what the caller learned opening the port (serial
	// settings, a bridge at the other end, holders --force went past),
	// added to modem.port's evidence.
	PortEvidence map[string]any
	// Timeout bounds each AT command (0: DefaultTimeout) or each mmcli call.
	Timeout time.Duration
	// ExpectedAPN, when set, is compared with the APN of the data context.
	ExpectedAPN string
	// PIN is sent once (AT+CPIN) when the SIM asks for it; "" never sends.
	PIN string
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// MMCLI is the mmcli program for ProbeMMCLI (default "mmcli" on PATH).
	MMCLI string
}

// Identity is what the modem says it is.
type Identity struct {
	Manufacturer string `json:"manufacturer,omitempty"`
	Model        string `json:"model,omitempty"`
	Revision     string `json:"revision,omitempty"`
	// Dialect is the vendor family whose own commands stand in where a
	// standard one fails: generic, quectel, sierra, ublox or telit.
	Dialect string `json:"dialect"`
}

// PortState is how the port behaved and what the probe changed on it.
type PortState struct {
	EchoWasOn bool `json:"echo_was_on"`
	// CMEEWas is the error reporting mode found (-1: unknown); the probe
	// sets 2 (errors in words) and puts it back.
	CMEEWas int `json:"cmee_was"`
	// Functionality is +CFUN (1 full, 0 minimum, 4 radio off), nil unknown.
	Functionality *int `json:"functionality,omitempty"`
	// Restored is true when echo and error mode were put back as found.
	Restored bool `json:"settings_restored"`
	// Mute is true when the modem stopped answering mid-session.
	Mute bool `json:"mute"`
}

// SIMInfo is the SIM's state and identity.
type SIMInfo struct {
	State        SIMState  `json:"state"`
	ICCID        string    `json:"iccid,omitempty"`
	ICCIDCommand string    `json:"iccid_command,omitempty"`
	IMSI         string    `json:"imsi,omitempty"`
	Attempts     *PINCount `json:"attempts_left,omitempty"`
	// PIN says what happened with --pin-file (never the PIN itself).
	PIN string `json:"pin"`
}

// SignalInfo is what the radio measures.
type SignalInfo struct {
	CSQ     *CSQ     `json:"csq,omitempty"`
	RSSIdBm *float64 `json:"rssi_dbm,omitempty"`
	RSRPdBm *float64 `json:"rsrp_dbm,omitempty"`
	RSRQdB  *float64 `json:"rsrq_db,omitempty"`
	SINRdB  *float64 `json:"sinr_db,omitempty"`
	Tech    string   `json:"tech,omitempty"`
	// RSSICommand and LTECommand name the commands that gave the RSSI and
	// the LTE values (AT+CESQ, or a vendor's where it fails).
	RSSICommand string `json:"rssi_command,omitempty"`
	LTECommand  string `json:"lte_command,omitempty"`
	// QualityPercent is ModemManager's signal quality (mmcli only).
	QualityPercent *int   `json:"quality_percent,omitempty"`
	Rating         string `json:"rating,omitempty"`
}

// RegInfo is the registration in each domain.
type RegInfo struct {
	EPS        *Registration `json:"eps,omitempty"`
	GPRS       *Registration `json:"gprs,omitempty"`
	CS         *Registration `json:"cs,omitempty"`
	Registered bool          `json:"registered"`
	Roaming    bool          `json:"roaming"`
	Tech       string        `json:"tech,omitempty"`
	// State is ModemManager's registration state (mmcli only).
	State string `json:"state,omitempty"`
}

// PDPInfo is the data contexts and the one that carries data.
type PDPInfo struct {
	Contexts []PDPContext `json:"contexts"`
	// DataCID is the context judged (-1: none defined).
	DataCID int `json:"data_cid"`
	// LastError is the modem's last error report (+CEER), read when no
	// context has an address.
	LastError string `json:"last_error,omitempty"`
}

// Result is everything a probe learned. Report turns it into checks.
type Result struct {
	Target       string      `json:"target"`
	Via          string      `json:"via"` // "at" or "mmcli"
	Modem        Identity    `json:"modem"`
	Port         PortState   `json:"port"`
	SIM          *SIMInfo    `json:"sim,omitempty"`
	Signal       *SignalInfo `json:"signal,omitempty"`
	Registration *RegInfo    `json:"registration,omitempty"`
	Operator     *Operator   `json:"operator,omitempty"`
	PDP          *PDPInfo    `json:"pdp,omitempty"`
	ExpectedAPN  string      `json:"expected_apn,omitempty"`
	// Verdict is one sentence naming the first trap, or saying all is well.
	Verdict    string     `json:"verdict"`
	Transcript []Exchange `json:"transcript"`

	// Checks are the finished checks in CheckOrder.
	Checks []report.Check `json:"-"`
	// Err is set when the probe could not run to the end because the port
	// itself failed (the device vanished, the connection closed), or
	// ModemManager shows no modem: a cannot-run error (exit 3).
	Err error `json:"-"`

	summaries map[string]string // words of each check for the verdict
	trap      string            // why the first failed check failed
}

// Report adds the checks to rep and the result to its details ("modem",
// and "verdict" on its own for scripts).
func (r *Result) Report(rep *report.Report) {
	for _, c := range r.Checks {
		rep.Add(c)
	}
	rep.SetDetail("modem", r)
	rep.SetDetail("verdict", r.Verdict)
}

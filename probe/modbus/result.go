package modbus

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/probe/serialport"
)

// Verdict is the scanner's conclusion about one address.
type Verdict string

// Verdicts.
const (
	// VerdictOK: one device answers consistently.
	VerdictOK Verdict = "ok"
	// VerdictCollision: evidence that two or more devices share the address.
	VerdictCollision Verdict = "collision"
	// VerdictSuspect: something is off at this address (some corrupted
	// replies, alternating latencies) but not enough to prove a collision.
	VerdictSuspect Verdict = "suspect"
	// VerdictError: a device is there but cannot be read reliably.
	VerdictError Verdict = "error"
	// VerdictNoAnswer (scan sniff): the master keeps polling the address
	// and nothing ever answers: a dead or mis-addressed meter.
	VerdictNoAnswer Verdict = "no_answer"
)

// ErrorCounts counts what went wrong in the exchanges with one address.
type ErrorCounts struct {
	Timeout   int `json:"timeout"`
	CRC       int `json:"crc"`
	Late      int `json:"late"`
	Exception int `json:"exception"`
}

// Latency summarises reply latencies in milliseconds: the round trip from
// writing the request to receiving the reply's last byte, wire time of both
// included (the host cannot see when bytes actually leave the adapter).
type Latency struct {
	Min float64 `json:"min"`
	P50 float64 `json:"p50"`
	Max float64 `json:"max"`
}

// Identity is what a device says it is.
type Identity struct {
	// ServerID is the FC 0x11 answer (hex) and its printable text.
	ServerID     string `json:"server_id,omitempty"`
	ServerIDText string `json:"server_id_text,omitempty"`
	// Vendor, Product and Revision come from FC 0x2B/0x0E basic objects.
	Vendor   string `json:"vendor,omitempty"`
	Product  string `json:"product,omitempty"`
	Revision string `json:"revision,omitempty"`
	// IDRegister is the value of --id-register (hex) on the first read.
	IDRegister string `json:"id_register,omitempty"`
}

// Empty reports whether nothing identified the device.
func (i Identity) Empty() bool { return i == Identity{} }

// Device is one address that answered (or showed signs of an answer).
type Device struct {
	UnitID    int         `json:"unit_id"`
	Verdict   Verdict     `json:"verdict"`
	Responses int         `json:"responses"`
	Polls     int         `json:"polls"`
	Errors    ErrorCounts `json:"errors"`
	LatencyMS *Latency    `json:"latency_ms"`
	Identity  *Identity   `json:"identity"`
	// FoundBy is how the address showed itself: fc03, fc04, fc11,
	// late_reply, garbled_reply, exception.
	FoundBy string `json:"found_by"`
	// History is each poll's outcome in order: ok, exception, timeout,
	// corrupt, with +second / +trailing when more came after a valid reply.
	History    []string `json:"history"`
	Exceptions []string `json:"exceptions,omitempty"`
	Evidence   []string `json:"evidence"`
	Hint       string   `json:"hint"`
	// IDRegisters are the distinct values --id-register gave (hex, as
	// Identity.IDRegister), in the order first read: two or more when
	// devices share the address, each its own serial number.
	IDRegisters []string `json:"id_registers,omitempty"`
	// ServerIDs are the distinct FC 0x11 answers (hex, as
	// Identity.ServerID) when more than one came: devices sharing the
	// address, each with its own.
	ServerIDs []string `json:"server_ids,omitempty"`
	// Warning marks an ok device with something the technician should know
	// (a late reply: the timeout is too short for it).
	Warning string `json:"warning,omitempty"`
}

// FrameNote describes a frame ectool did not cause.
type FrameNote struct {
	At       string `json:"at"`
	Dir      string `json:"direction"`
	UnitID   int    `json:"unit_id"`
	Function int    `json:"function"`
	Raw      string `json:"raw"`
}

// BusInfo is what the scanner learned about the line itself.
type BusInfo struct {
	ForeignMaster bool        `json:"foreign_master"`
	ForeignFrames []FrameNote `json:"foreign_frames,omitempty"`
	Echo          bool        `json:"echo"`
	NoiseBytes    int         `json:"noise_bytes"`
	ListenedMS    float64     `json:"listened_ms"`
	// ListenNoiseBytes are the noise bytes heard while nobody transmitted.
	ListenNoiseBytes int `json:"listen_noise_bytes"`
	// CRCErrors counts frames with a bad CRC or cut short, anywhere.
	CRCErrors int `json:"crc_errors"`
	// CRCErrorsByUnit splits them by the address whose answer they stood
	// for (the address polled, or a late garbled answer's); JSON keys are
	// the addresses as strings.
	CRCErrorsByUnit map[int]int `json:"crc_errors_by_unit,omitempty"`
	// CRCErrorsElsewhere were heard where no answer was due (while
	// listening, between exchanges).
	CRCErrorsElsewhere int `json:"crc_errors_elsewhere"`
	// StrayAnswers are valid answers to no request ectool sent (a device
	// answering with another address than the one polled).
	StrayAnswers int         `json:"stray_answers"`
	StrayFrames  []FrameNote `json:"stray_frames,omitempty"`
	// NoiseOnlyIDs are addresses whose windows held bytes that the line's
	// noise explains (never a valid answer nor a frame with their
	// address, bytes in under half their windows): not reported as
	// devices.
	NoiseOnlyIDs []int `json:"noise_only_ids,omitempty"`
	// HostStalls counts the times the computer did not run ectool for a
	// while during the scan (a loaded machine, a VM, a CPU quota), and
	// HostStallMaxMS is the longest. Silence and timeouts were judged only
	// after ectool had read what arrived meanwhile, and latencies measured
	// across a stall were not taken as evidence.
	HostStalls     int     `json:"host_stalls"`
	HostStallMaxMS float64 `json:"host_stall_max_ms"`
}

// noteHost records what the host's clock did during the scan.
func (b *BusInfo) noteHost(w *hostWatch) {
	b.HostStalls, b.HostStallMaxMS = w.Stalls, ms(w.Longest)
}

// Settings are what the scan ran with.
type Settings struct {
	Transport string          `json:"transport"`
	Serial    *SerialSettings `json:"serial,omitempty"`
	IDs       string          `json:"ids"`
	Probe     string          `json:"probe"`
	Thorough  bool            `json:"thorough"`
	TimeoutMS float64         `json:"timeout_ms"`
	// TimeoutAuto is --timeout auto: TimeoutMS is then the confirm polls'
	// base wait, and the sweep's own waits are in Sweep.
	TimeoutAuto bool    `json:"timeout_auto,omitempty"`
	Retries     int     `json:"retries"`
	Confirm     int     `json:"confirm"`
	ListenMS    float64 `json:"listen_ms"`
	IDRegister  *int    `json:"id_register,omitempty"`
	// IDRegisterTable is the id register's table: holding or input.
	IDRegisterTable string `json:"id_register_table,omitempty"`
	// Forced is --force: open a port another process holds.
	Forced bool `json:"forced"`
	// ForcedPast are the processes that held the port when --force opened
	// it anyway.
	ForcedPast []serialport.Holder `json:"forced_past,omitempty"`
	// TalkOverMaster is --talk-over-master: keep scanning when another
	// master is heard.
	TalkOverMaster bool `json:"talk_over_master"`
	// Bridges hold the other end of the pseudo-terminal opened (a socat
	// bridge to a serial server, a simulator).
	Bridges []serialport.Holder `json:"bridges,omitempty"`
	// LatencyTimer is what ectool did to an FTDI adapter's latency timer.
	LatencyTimer *serialport.LatencyTimer `json:"latency_timer,omitempty"`

	// Expect is --expect in the notation of IDs: the addresses that
	// should answer (bus.expected); empty without it.
	Expect string `json:"expect,omitempty"`
}

// Sweep is the address sweep's summary.
type Sweep struct {
	Probed     int     `json:"probed"`
	Total      int     `json:"total"`
	Found      int     `json:"found"`
	Complete   bool    `json:"complete"`
	DurationMS float64 `json:"duration_ms"`
	// ConfirmMS is the time spent confirming found addresses.
	ConfirmMS float64 `json:"confirm_ms"`
	// FloorMS is the physical minimum of the sweep and confirm exchanges
	// made (serial): request and reply wire times at the line's baud rate,
	// the full timeout for each unanswered request, and after each answer
	// the shortest window that can catch a second one (5 ms turnaround,
	// the answer's length, the 20 ms silence), or under --timeout auto the
	// short window of an address that has answered alone (5 ms and t3.5).
	// Benchmarks compare against it.
	FloorMS float64 `json:"floor_ms,omitempty"`
	// Under --timeout auto: WaitMS is the sweep's wait at a silent address
	// when it ended, LongWaitMS the wait of a re-probe; Reprobed the
	// addresses asked again with it (a late answer from another address,
	// or bytes nothing explained, in their window); Unexplained those
	// whose windows still held bytes no answer explained (never reported
	// silent).
	WaitMS      float64 `json:"wait_ms,omitempty"`
	LongWaitMS  float64 `json:"long_wait_ms,omitempty"`
	Reprobed    string  `json:"reprobed,omitempty"`
	Unexplained string  `json:"unexplained,omitempty"`
}

// Finding is a conclusion about the whole bus.
type Finding struct {
	// Kind names the finding: foreign_master, noise, settings, no_device,
	// gateway, unit_id_ignored.
	Kind string `json:"kind"`
	// Status grades it as a report check: ok, warning or failed.
	Status   report.Status  `json:"status"`
	Message  string         `json:"message"`
	Evidence map[string]any `json:"evidence,omitempty"`
	Hint     string         `json:"hint,omitempty"`
}

// Result is a finished scan.
type Result struct {
	Target   string    `json:"target"`
	Settings Settings  `json:"settings"`
	Bus      BusInfo   `json:"bus"`
	Sweep    Sweep     `json:"sweep"`
	Devices  []Device  `json:"devices"`
	Findings []Finding `json:"findings"`
	// Stopped says why the scan stopped early ("" when it did not).
	Stopped string `json:"stopped,omitempty"`
}

// Finding returns the finding of a kind, or nil.
func (r *Result) Finding(kind string) *Finding {
	for i := range r.Findings {
		if r.Findings[i].Kind == kind {
			return &r.Findings[i]
		}
	}
	return nil
}

// Device returns the device at an address, or nil.
func (r *Result) Device(unit int) *Device {
	for i := range r.Devices {
		if r.Devices[i].UnitID == unit {
			return &r.Devices[i]
		}
	}
	return nil
}

// Progress is reported while the sweep runs.
type Progress struct {
	Phase string // "listen", "sweep", "confirm"
	Done  int
	Total int
	Found int
	ETA   time.Duration
}

func latencySummary(ds []time.Duration) *Latency {
	if len(ds) == 0 {
		return nil
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return &Latency{Min: ms(s[0]), P50: ms(s[len(s)/2]), Max: ms(s[len(s)-1])}
}

// printable keeps the readable runs of an identity answer.
func printable(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		if c < 0x80 && unicode.IsPrint(rune(c)) {
			sb.WriteByte(c)
		} else if sb.Len() > 0 && !strings.HasSuffix(sb.String(), " ") {
			sb.WriteByte(' ')
		}
	}
	return strings.TrimSpace(sb.String())
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func fmtMS(d time.Duration) string {
	if d >= 10*time.Millisecond {
		return fmt.Sprintf("%d ms", d.Round(time.Millisecond)/time.Millisecond)
	}
	return fmt.Sprintf("%.1f ms", ms(d))
}

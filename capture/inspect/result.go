package inspect

import (
	"encoding/json"
	"time"

	"github.com/ecdata/ectool/capture"
	"github.com/ecdata/ectool/diag/report"
)

// Stamp is a packet time; it is written as RFC 3339 UTC with microseconds,
// as every ectool report writes times.
type Stamp time.Time

// MarshalJSON writes the time in the report model's layout.
func (s Stamp) MarshalJSON() ([]byte, error) {
	if time.Time(s).IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(report.FormatTime(time.Time(s)))
}

// T is the time as a time.Time.
func (s Stamp) T() time.Time { return time.Time(s) }

// Result is the diagnosis of a capture: what was read, every MQTT
// connection, every topic, and the problems behind each check.
type Result struct {
	Inputs []string
	// Start and End are the first and last packet times inspected.
	Start, End time.Time
	// Window is Options.Window: packets outside it are counted only.
	Window capture.Resolved

	Input       InputStats
	Connections []*Connection
	Topics      []*Topic
	// LearnedPorts are ports decoded because a CONNECT or a WebSocket
	// upgrade to MQTT was recognised on them.
	LearnedPorts map[uint16]Protocol

	Decode     Findings // malformed packets, lost framing
	Refused    Findings // CONNACK refusals, no CONNACK
	Reconnects Findings // client ids connecting 5 times within 60 s
	KeepAlive  Findings // clients silent beyond 1.5 × keep-alive
	QoS        Findings // flows never acknowledged, refused publishes
	QoSOpen    Findings // flows still open at capture end
	Subscribe  Findings // refused topic filters
	Size       Findings // packets over the peer's maximum packet size
	TLS        Findings // handshake failures, alerts
	TCP        TCPStats

	// PacketsBeforeConnack counts control packets on connections whose
	// CONNACK had not been seen (captures joined mid-session; clients
	// that send before the CONNACK). ConnackWithoutConnect counts CONNACKs
	// on connections whose start was captured but no CONNECT.
	PacketsBeforeConnack  int
	ConnackWithoutConnect int
	ConnectsWithoutAck    int
	// ConnectsPending: CONNECTs still unanswered when the capture ended.
	ConnectsPending int
	Messages        int // control packets decoded (after filters)
}

// InputStats say what was read and what could not be used.
type InputStats struct {
	Packets       int `json:"packets"`
	OutsideWindow int `json:"outside_window,omitempty"`
	NotTCP        int `json:"not_tcp"`
	Fragments     int `json:"ip_fragments,omitempty"`
	Broken        int `json:"broken_frames,omitempty"`
	// LinkTypes lists link types inspect cannot read, with their frame counts.
	LinkTypes map[string]int `json:"unknown_link_types,omitempty"`
	// Problems are unreadable parts: truncated final records, damaged files.
	Problems []InputProblem `json:"problems,omitempty"`
	// SnapCut counts TCP segments whose payload the snap length cut.
	SnapCut int `json:"snaplen_cut,omitempty"`
	// Holes counts bytes of decoded streams the capture lost (segments
	// never captured): each hole drops at most the packets it cuts.
	Holes int `json:"stream_holes,omitempty"`
	// BufferDrops counts packets split over segments that could not be
	// buffered because MaxBufferTotal was used up.
	BufferDrops int `json:"buffer_drops,omitempty"`
}

// InputProblem is one unreadable part of the input.
type InputProblem struct {
	Input string `json:"input"`
	// Truncated: the input ends inside a record, or garbage follows the
	// last whole one (a capture stopped mid-write, a file being written):
	// the records before Offset were used, Bytes from there were skipped.
	Truncated bool  `json:"truncated_record"`
	Offset    int64 `json:"offset,omitempty"`
	Bytes     int64 `json:"bytes_skipped,omitempty"`
	// IOError: the system failed to read (permission, a disk error), not
	// the file's content.
	IOError bool   `json:"io_error,omitempty"`
	Error   string `json:"error"`
}

// Findings count one kind of problem and keep its first instances.
type Findings struct {
	Count int
	First []Instance
}

// maxInstances is how many instances evidence keeps of each kind.
const maxInstances = 5

func (f *Findings) add(in Instance) {
	f.Count++
	if len(f.First) < maxInstances {
		f.First = append(f.First, in)
	}
}

// Instance is one occurrence of a problem: where, when, what.
type Instance struct {
	Time     Stamp  `json:"time"`
	Stream   int    `json:"stream"`
	ClientID string `json:"client_id,omitempty"`
	Client   string `json:"client,omitempty"`
	Topic    string `json:"topic,omitempty"`
	PacketID int    `json:"packet_id,omitempty"`
	Code     *int   `json:"reason_code,omitempty"`
	What     string `json:"what"`
}

// TCPStats are the transport's troubles over the MQTT connections.
type TCPStats struct {
	Retransmissions int
	ZeroWindows     int
	First           []Instance
}

// Connection is one MQTT connection (one TCP connection).
type Connection struct {
	Stream   int    `json:"stream"`
	Client   string `json:"client"`
	Broker   string `json:"broker"`
	Protocol string `json:"protocol"`

	ClientID        *string `json:"client_id"`
	UsernamePresent bool    `json:"username_present"`
	PasswordPresent bool    `json:"password_present"`
	Version         string  `json:"version"`
	// VersionFrom: connect, inferred, assumed or unknown.
	VersionFrom  string `json:"version_from"`
	KeepAliveS   *int   `json:"keepalive_s"`
	CleanSession *bool  `json:"clean_session"`
	Will         *Will  `json:"will"`
	// MidSession: the capture did not hold the connection's CONNECT.
	MidSession bool `json:"mid_session"`

	Start      Stamp   `json:"start"`
	DurationMS float64 `json:"duration_ms"`
	End        End     `json:"end"`

	Connack *ConnackInfo `json:"connack"`

	PacketsToBroker   int            `json:"packets_to_broker"`
	PacketsToClient   int            `json:"packets_to_client"`
	Types             map[string]int `json:"types"`
	PublishesToBroker int            `json:"publishes_to_broker"`
	PublishesToClient int            `json:"publishes_to_client"`
	QoS               QoSFlows       `json:"qos"`
	// MaxSilenceS is the longest the client sent nothing (s), from its
	// CONNECT to the end of the connection.
	MaxSilenceS float64    `json:"max_client_silence_s"`
	Malformed   int        `json:"malformed"`
	TCP         ConnTCP    `json:"tcp"`
	TLS         *TLSInfo   `json:"tls,omitempty"`
	WebSocket   *WebSocket `json:"websocket,omitempty"`

	included  bool
	typeCount [16]int
}

// Will is the Last Will registered at CONNECT (never its payload).
type Will struct {
	Topic  string `json:"topic"`
	QoS    byte   `json:"qos"`
	Retain bool   `json:"retain"`
}

// End says how a connection ended.
type End struct {
	// How: disconnect, fin, rst, keepalive_expiry, taken_over or capture_end.
	How string `json:"how"`
	// By: client, broker, or "" (capture end).
	By         string `json:"by,omitempty"`
	ReasonCode *int   `json:"reason_code,omitempty"`
	Reason     string `json:"reason,omitempty"`
	Time       Stamp  `json:"time"`
}

// ConnackInfo is the broker's answer to CONNECT.
type ConnackInfo struct {
	ReasonCode     int      `json:"reason_code"`
	Reason         string   `json:"reason"`
	Accepted       bool     `json:"accepted"`
	SessionPresent bool     `json:"session_present"`
	LatencyMS      *float64 `json:"latency_ms"`
	// MaximumPacketSize is the broker's limit for what the client sends.
	MaximumPacketSize *uint32 `json:"maximum_packet_size,omitempty"`
	AssignedClientID  string  `json:"assigned_client_id,omitempty"`
	ServerKeepAliveS  *int    `json:"server_keepalive_s,omitempty"`
}

// QoSFlows are a connection's QoS 1 and 2 exchanges.
type QoSFlows struct {
	Published1 int `json:"qos1"`
	Published2 int `json:"qos2"`
	Completed  int `json:"completed"`
	// Incomplete: never acknowledged while enough capture remained;
	// OpenAtEnd: still waiting when the capture ended (a short tail).
	Incomplete int      `json:"incomplete"`
	OpenAtEnd  int      `json:"open_at_end"`
	Refused    int      `json:"refused"`
	AckP50MS   *float64 `json:"ack_p50_ms"`
	AckP99MS   *float64 `json:"ack_p99_ms"`
	Dup        int      `json:"dup_retransmissions"`
	// UnmatchedAcks are acknowledgements whose PUBLISH was not seen.
	UnmatchedAcks int `json:"unmatched_acks"`
}

// ConnTCP are one connection's transport figures.
type ConnTCP struct {
	BytesToBroker   int64 `json:"bytes_to_broker"`
	BytesToClient   int64 `json:"bytes_to_client"`
	Retransmissions int   `json:"retransmissions"`
	ZeroWindows     int   `json:"zero_windows"`
}

// WebSocket is what the HTTP upgrade said.
type WebSocket struct {
	Path        string `json:"path"`
	Subprotocol string `json:"subprotocol"`
	Status      int    `json:"status"`
}

// Topic is one topic's traffic.
type Topic struct {
	Topic     string `json:"topic"`
	Publishes int    `json:"publishes"`
	ToBroker  int    `json:"to_broker"`
	ToClients int    `json:"to_clients"`
	QoS0      int    `json:"qos0"`
	QoS1      int    `json:"qos1"`
	QoS2      int    `json:"qos2"`
	Retained  int    `json:"retained"`
	Dup       int    `json:"dup"`
	Bytes     int64  `json:"payload_bytes"`
	First     Stamp  `json:"first"`
	Last      Stamp  `json:"last"`
	// RatePerMin is publishes to the broker per minute between the first
	// and the last one (0 with fewer than two).
	RatePerMin float64 `json:"rate_per_min"`
	Publishers int     `json:"publishers"`

	included    bool
	publishers  map[string]struct{}
	lastPublish time.Time
}

package inspect

import (
	"net/netip"
	"strings"
	"time"

	"github.com/ecdata/ectool/probe/mqtt"
)

// PacketType is an MQTT control packet type.
type PacketType byte

// The MQTT control packet types; 0 is reserved (malformed on the wire).
const (
	Reserved PacketType = iota
	Connect
	Connack
	Publish
	Puback
	Pubrec
	Pubrel
	Pubcomp
	Subscribe
	Suback
	Unsubscribe
	Unsuback
	Pingreq
	Pingresp
	Disconnect
	Auth
)

var typeNames = [16]string{"reserved", "connect", "connack", "publish", "puback", "pubrec", "pubrel", "pubcomp",
	"subscribe", "suback", "unsubscribe", "unsuback", "pingreq", "pingresp", "disconnect", "auth"}

// String is the packet type in lower case ("publish"), as --messages
// writes it.
func (t PacketType) String() string { return typeNames[t&0x0f] }

// Upper is the packet type as the specification writes it ("PUBLISH").
func (t PacketType) Upper() string { return strings.ToUpper(t.String()) }

// Message is one MQTT control packet decoded from the capture. Strings
// and byte slices alias the decoder's buffers: a Message is valid only
// during the OnMessage call that hands it over.
type Message struct {
	Time time.Time
	// Stream numbers the capture's TCP connections in order of their first
	// packet, from 0, as Wireshark's tcp.stream does.
	Stream   int
	Src, Dst netip.AddrPort
	ToBroker bool
	Type     PacketType
	Version  string // "3.1", "3.1.1", "5" or "" when unknown
	ClientID string // of the connection, when its CONNECT was seen

	PacketID    uint16
	HasPacketID bool
	Topic       string
	// QoS, Retain and Dup are the fixed header's flags (for PUBREL,
	// SUBSCRIBE and UNSUBSCRIBE the QoS bits read 1).
	QoS         byte
	Retain, Dup bool

	// ReasonCode is the reason or return code of CONNACK, PUBACK, PUBREC,
	// PUBREL, PUBCOMP, DISCONNECT and AUTH when the packet carries one.
	ReasonCode byte
	HasReason  bool
	Reason     string // the code in words (probe/mqtt's table)

	// Size is the whole packet's length on the wire, fixed header included.
	Size        int
	PayloadSize int
	// Payload is the captured payload: only its start when
	// PayloadTruncated (a packet larger than inspect buffers).
	Payload          []byte
	PayloadTruncated bool
	// Properties are a PUBLISH's (or a Will's) MQTT 5 properties in the
	// shape `mqtt sub` writes them.
	Properties mqtt.Properties
	// Props holds every MQTT 5 property of the packet (nil for 3.1.x or
	// when there were none).
	Props *Props

	Connect *ConnectFields // CONNECT only
	// SessionPresent is CONNACK's flag.
	SessionPresent bool
	// Filters are SUBSCRIBE's and UNSUBSCRIBE's topic filters.
	Filters []Filter
	// ReasonCodes are SUBACK's granted QoS / reason codes and UNSUBACK's
	// reason codes (MQTT 5).
	ReasonCodes []byte

	// Malformed says why the packet breaks the protocol ("" when it does
	// not). A malformed packet is reported, never fatal.
	Malformed string
}

// ConnectFields are a CONNECT's fields. The password itself is never
// kept: only whether there was one and its length.
type ConnectFields struct {
	ProtocolName    string
	ProtocolVersion byte // 3 (3.1), 4 (3.1.1), 5
	CleanSession    bool
	KeepAlive       uint16 // seconds
	UsernameFlag    bool
	// Username is decoded for tests and never written by ectool: some
	// platforms put an access token there.
	Username       string
	PasswordFlag   bool
	PasswordLength int
	WillFlag       bool
	WillQoS        byte
	WillRetain     bool
	WillTopic      string
	WillPayload    []byte
	WillProperties *Props
}

// Filter is one topic filter of a SUBSCRIBE (with its requested QoS) or
// an UNSUBSCRIBE.
type Filter struct {
	Filter string `json:"filter"`
	QoS    byte   `json:"qos"`
}

// Props are MQTT 5 properties. Pointers and empty values mean absent.
type Props struct {
	PayloadFormat        *byte
	MessageExpiry        *uint32
	ContentType          string
	ResponseTopic        string
	CorrelationData      []byte
	SubscriptionIDs      []int
	SessionExpiry        *uint32
	AssignedClientID     string
	ServerKeepAlive      *uint16
	AuthMethod           string
	AuthData             []byte
	RequestProblemInfo   *byte
	WillDelay            *uint32
	RequestResponseInfo  *byte
	ResponseInfo         string
	ServerReference      string
	ReasonString         string
	ReceiveMaximum       *uint16
	TopicAliasMaximum    *uint16
	TopicAlias           *uint16
	MaximumQoS           *byte
	RetainAvailable      *byte
	User                 []mqtt.UserProperty
	MaximumPacketSize    *uint32
	WildcardSubAvailable *byte
	SubIDAvailable       *byte
	SharedSubAvailable   *byte
}

// Package mqtt reaches an MQTT broker the way a gateway does and explains, in
// words a technician can act on, what went wrong when it cannot.
//
// Start with Connect: it takes Options (broker URL, protocol version, TLS,
// credentials, Will) and returns a Client that hides whether MQTT 5
// (paho.golang) or 3.1.1 (paho.mqtt.golang) is spoken underneath. Every
// failure it returns is a *StepError naming the step that broke (dns, tcp,
// tls, connect, publish, subscribe) with a hint; Explain turns any error into
// a message and a hint.
//
// The check ladder (Check) and the publish/subscribe helpers used by
// `ectool mqtt` are built on the same Client.
package mqtt

import (
	"context"
	"net"
	"time"
)

// Version is the MQTT protocol version spoken.
type Version string

// The protocol versions ectool speaks.
const (
	V5   Version = "5"
	V311 Version = "3.1.1"
	// VAuto tries MQTT 5 and falls back to 3.1.1 when the broker refuses
	// 5. It is asked for, never spoken: ConnAck.Version says what was.
	VAuto Version = "auto"
)

// Options describe how to reach and log in to a broker.
type Options struct {
	// Broker is a URL: mqtt://host[:1883], mqtts://host[:8883], ws://host[:80]/mqtt,
	// wss://host[:443]/mqtt (tcp:// and ssl:// are accepted as aliases).
	Broker   string
	Version  Version // V5 (default), V311 or VAuto
	ClientID string  // empty: a random "ectool-..." id (unless EmptyClientID)
	// EmptyClientID sends an empty client id so the broker assigns one.
	EmptyClientID bool
	// KeepAlive is the keep-alive interval sent in CONNECT (default 30s).
	KeepAlive time.Duration
	// NoKeepAlive sends a keep-alive of 0: the broker never times us out.
	NoKeepAlive bool
	// CleanStart asks for a new session (MQTT 5 clean start, 3.1.1 clean session).
	CleanStart  bool
	Username    string
	Password    string
	HasPassword bool // a password was given (it may be empty)
	TLS         TLSOptions
	Will        *Will
	// ConnectTimeout bounds each of DNS, TCP, TLS and CONNECT (default 10s).
	ConnectTimeout time.Duration
	// Dial, when set, replaces net.Dialer for the TCP step (tests inject it).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// TLSOptions configure TLS for mqtts:// and wss:// brokers.
type TLSOptions struct {
	CAFile     string   // PEM bundle of trusted CAs; empty: system roots
	CertFile   string   // client certificate (PEM)
	KeyFile    string   // client key (PEM)
	Insecure   bool     // skip server certificate verification
	ServerName string   // SNI and name to verify; empty: the broker host
	ALPN       []string // ALPN protocols to offer
	MinVersion uint16   // tls.VersionTLS12 or tls.VersionTLS13; 0 = TLS 1.2
}

// Will is the Last Will and Testament registered at CONNECT.
type Will struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
}

// UserProperty is one MQTT 5 user property.
type UserProperty struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Properties are the MQTT 5 PUBLISH properties ectool sends and shows.
// They are ignored on 3.1.1.
type Properties struct {
	ContentType     string         `json:"content_type,omitempty"`
	MessageExpiry   *uint32        `json:"message_expiry_s,omitempty"` // seconds
	PayloadFormat   *byte          `json:"payload_format,omitempty"`
	ResponseTopic   string         `json:"response_topic,omitempty"`
	CorrelationData []byte         `json:"correlation_data,omitempty"`
	UserProperties  []UserProperty `json:"user_properties,omitempty"`
}

// Message is a PUBLISH sent or received.
type Message struct {
	Topic      string
	Payload    []byte
	QoS        byte
	Retain     bool
	Dup        bool
	Properties Properties
	Received   time.Time // when it arrived (received messages only)
}

// Subscription is one topic filter in a SUBSCRIBE.
type Subscription struct {
	Filter string
	QoS    byte
	// RetainHandling (MQTT 5): 0 send retained on subscribe, 1 only if new, 2 never.
	RetainHandling byte
	NoLocal        bool // MQTT 5: do not receive our own publishes
}

// ConnAck is what the broker said when it accepted the connection. The
// MQTT 5 server limits are nil when the broker did not send them (the
// protocol default applies then).
type ConnAck struct {
	Version        Version `json:"version"`
	SessionPresent bool    `json:"session_present"`
	ReasonCode     byte    `json:"reason_code"`

	MaximumQoS           *byte   `json:"maximum_qos,omitempty"`
	RetainAvailable      *bool   `json:"retain_available,omitempty"`
	WildcardSubAvailable *bool   `json:"wildcard_subscription_available,omitempty"`
	SharedSubAvailable   *bool   `json:"shared_subscription_available,omitempty"`
	SubIDAvailable       *bool   `json:"subscription_identifier_available,omitempty"`
	MaximumPacketSize    *uint32 `json:"maximum_packet_size,omitempty"`
	TopicAliasMaximum    *uint16 `json:"topic_alias_maximum,omitempty"`
	ServerKeepAlive      *uint16 `json:"server_keep_alive,omitempty"`
	ReceiveMaximum       *uint16 `json:"receive_maximum,omitempty"`
	AssignedClientID     string  `json:"assigned_client_id,omitempty"`
	ReasonString         string  `json:"reason_string,omitempty"`

	// FallbackReason is set when Options.Version was VAuto and the broker
	// refused MQTT 5: how it refused, so Version is 3.1.1.
	FallbackReason string `json:"fallback_reason,omitempty"`
}

// Client is a connected MQTT session, whichever version it speaks.
// All methods are safe for concurrent use.
type Client interface {
	// ConnAck is what the broker answered to CONNECT.
	ConnAck() ConnAck
	// Publish sends m. For QoS 1 and 2 it returns when the broker has
	// acknowledged it (PUBACK / PUBCOMP); a refusal is a *ReasonError.
	// Several Publish calls may be in flight at once.
	Publish(ctx context.Context, m Message) error
	// PublishAsync sends m and returns once it is on its way, in call
	// order; done is called exactly once with the outcome (nil for QoS 0
	// once written; the PUBACK/PUBCOMP or a refusal for QoS 1/2). It blocks
	// while the broker's receive window (Receive Maximum) is full. An error
	// returned means m was not sent and done will not be called.
	PublishAsync(ctx context.Context, m Message, done func(error)) error
	// Subscribe returns one granted QoS (or MQTT 5 reason code >= 0x80) per
	// subscription. A refused subscription is also returned as a *ReasonError.
	Subscribe(ctx context.Context, subs ...Subscription) ([]byte, error)
	// Unsubscribe removes subscriptions.
	Unsubscribe(ctx context.Context, filters ...string) error
	// Messages delivers every PUBLISH received, in order. The channel is
	// closed when the connection ends.
	Messages() <-chan Message
	// Done is closed when the connection ends; Err then says why (nil after
	// Disconnect).
	Done() <-chan struct{}
	Err() error
	// Sync returns once the broker has read everything sent so far (a
	// PINGREQ behind it is answered), or with why the connection ended
	// first: a QoS 0 publish has no acknowledgement, and a broker refuses
	// one (3.1.1, or too large) by closing the connection.
	Sync(ctx context.Context) error
	// NoSubscribers counts the QoS 1/2 publishes the broker acknowledged
	// with MQTT 5 reason code 0x10 "no matching subscribers" (always 0 on
	// 3.1.1).
	NoSubscribers() int
	// Disconnect sends DISCONNECT and closes the connection (no Will).
	Disconnect(ctx context.Context) error
	// Abort closes the network connection without DISCONNECT, as a power cut
	// would: the broker publishes the Will.
	Abort() error
}

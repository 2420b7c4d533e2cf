package mqtt

import (
	"errors"
	"fmt"
)

// Step names the part of reaching a broker that failed. They double as the
// step part of the mqtt.* check IDs.
type Step string

// The steps of reaching and using a broker, in ladder order.
const (
	StepDNS       Step = "dns"
	StepTCP       Step = "tcp"
	StepTLS       Step = "tls"
	StepConnect   Step = "connect"
	StepSubscribe Step = "subscribe"
	StepPublish   Step = "publish"
	StepReceive   Step = "receive"
)

// StepError is a failure at one step, worded for a technician: what failed
// (Message), the likely cause and next step (Hint), and the underlying error.
type StepError struct {
	Step    Step
	Message string // one line: what failed and why, e.g. "connection refused by 127.0.0.1:1883"
	Hint    string // the next step, e.g. "is the broker running? check the port"
	Err     error  // underlying error, for errors.Is/As
}

func (e *StepError) Error() string {
	if e.Message != "" {
		return fmt.Sprintf("%s: %s", e.Step, e.Message)
	}
	return fmt.Sprintf("%s: %v", e.Step, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// ReasonError is a broker's refusal carried by a reason code: a CONNACK,
// PUBACK/PUBREC/PUBCOMP, SUBACK, UNSUBACK or DISCONNECT.
type ReasonError struct {
	Packet  string  // "connack", "puback", "pubrec", "pubcomp", "suback", "unsuback", "disconnect"
	Version Version // which table Code belongs to (3.1.1 CONNACK codes differ)
	Code    byte
	Reason  string // the broker's reason string, if any (MQTT 5)
}

func (e *ReasonError) Error() string {
	s := fmt.Sprintf("%s reason code 0x%02X (%s)", e.Packet, e.Code, ReasonText(e.Version, e.Packet, e.Code))
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// StepOf returns the step an error belongs to, or "" when it carries none.
func StepOf(err error) Step {
	var se *StepError
	if errors.As(err, &se) {
		return se.Step
	}
	return ""
}

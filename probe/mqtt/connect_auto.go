package mqtt

import (
	"context"
	"errors"
	"time"
)

// The ways a broker refuses MQTT 5 that make Version auto fall back to
// 3.1.1 (ConnAck.FallbackReason, FallbackError.Reason).
const (
	refused311Connack = `MQTT 5 refused with an MQTT 3.1.1 CONNACK 0x01 "unacceptable protocol version"`
	refused5Connack   = `MQTT 5 refused with CONNACK 0x84 "unsupported protocol version"`
	refusedByClose    = "the broker closed the connection after the MQTT 5 CONNECT without a CONNACK"
)

// FallbackError is Connect's error with Version auto when the broker refused
// MQTT 5 and the 3.1.1 attempt failed too: Reason says how 5 was refused,
// Err why 3.1.1 failed (a *StepError, often with a *ReasonError inside).
type FallbackError struct {
	Reason string
	Err    error
	// Tried311 is false when 3.1.1 could not be tried (no time left, or
	// Options it cannot carry): Err is then MQTT 5's refusal.
	Tried311 bool
}

func (e *FallbackError) Error() string {
	return e.Reason + "; then on MQTT 3.1.1: " + e.Err.Error()
}

func (e *FallbackError) Unwrap() error { return e.Err }

// FallbackReason returns, for an error of Connect with Version auto, how the
// broker refused MQTT 5 before the 3.1.1 attempt failed; "" when no
// fallback was tried.
func FallbackReason(err error) string {
	var fe *FallbackError
	if errors.As(err, &fe) {
		return fe.Reason
	}
	return ""
}

// connectAuto is Connect with Version auto: MQTT 5 first, then 3.1.1 when
// the broker refuses 5 in one of the ways brokers that speak only 3.1.1 do
// (versionRefusal). A refusal of the client itself (credentials, ACL, a
// banned id, a TLS alert) is never retried: speaking 3.1.1 would not change
// it and would hide the real answer. Both attempts share one CONNECT
// budget: the 3.1.1 attempt, its new dial included, gets what is left of
// o.ConnectTimeout counted from the end of the first dial, so auto never
// waits longer than a single attempt could.
func connectAuto(ctx context.Context, o Options) (Client, error) {
	o5 := o
	o5.Version = V5
	c, dialed, err := connectOnce(ctx, o5)
	if err == nil {
		return c, nil
	}
	reason := versionRefusal(err)
	if reason == "" {
		return nil, err
	}
	if blocked := fallbackBlocked(o, reason, err); blocked != nil {
		return nil, blocked
	}
	left := o.ConnectTimeout - time.Since(dialed)
	if left <= 0 {
		return nil, &StepError{Step: StepConnect, Message: reason + ", and no time was left to try MQTT 3.1.1 within the timeout",
			Hint: "pass --mqtt-version 3.1.1, or raise --timeout", Err: &FallbackError{Reason: reason, Err: err}}
	}
	o311 := o
	o311.Version = V311
	o311.ConnectTimeout = left
	fctx, cancel := context.WithTimeout(ctx, left)
	defer cancel()
	c, _, err = connectOnce(fctx, o311)
	if err != nil {
		return nil, fallbackFailed(err, reason)
	}
	c.(interface{ noteFallback(string) }).noteFallback(reason)
	return c, nil
}

// versionRefusal says how err shows the broker refusing MQTT 5 itself, or ""
// when err is about something else. A silent close counts only as the
// CONNECT step left it: once tlsPortProbe found a TLS port behind it, or a
// TLS alert explained it, the version is not the problem.
func versionRefusal(err error) string {
	var se *StepError
	if !errors.As(err, &se) || se.Step != StepConnect {
		return ""
	}
	if _, ok := se.Err.(*silentClose); ok {
		return refusedByClose
	}
	var re *ReasonError
	if !errors.As(err, &re) || re.Packet != PacketConnack {
		return ""
	}
	switch {
	case re.Version == V311 && re.Code == 1:
		return refused311Connack
	case re.Version == V5 && re.Code == 0x84:
		return refused5Connack
	}
	return ""
}

// fallbackBlocked is the error when Options cannot be sent on 3.1.1 at all;
// nil when they can.
func fallbackBlocked(o Options, reason string, err error) error {
	var why, hint string
	switch {
	case o.HasPassword && o.Username == "":
		why, hint = "MQTT 3.1.1 cannot send a password without a user name", "pass -u/--username with the password"
	case o.EmptyClientID && !o.CleanStart:
		why, hint = "MQTT 3.1.1 needs a client id to resume a session", "give --client-id, or drop --clean-start=false"
	default:
		return nil
	}
	return &StepError{Step: StepConnect, Message: reason + ", and " + why, Hint: hint, Err: &FallbackError{Reason: reason, Err: err}}
}

// fallbackFailed words a failed 3.1.1 attempt after MQTT 5 was refused: the
// 3.1.1 answer is the one that matters (a bad password on a 3.1.1-only
// broker shows only there), with the refusal of 5 in brackets.
func fallbackFailed(err error, reason string) error {
	msg, hint := Explain(err)
	step := StepOf(err)
	if step == "" {
		step = StepConnect
	}
	if re := (*ReasonError)(nil); errors.As(err, &re) && re.Packet == PacketConnack && re.Version == V311 && re.Code == 1 {
		hint = "the broker speaks neither MQTT 5 nor 3.1.1 (an MQTT 3.1-only broker?): ectool speaks 5 and 3.1.1"
	}
	return &StepError{Step: step, Message: msg + " (on MQTT 3.1.1; " + reason + ")", Hint: hint, Err: &FallbackError{Reason: reason, Err: err, Tried311: true}}
}

// noteFallback records on the ConnAck that Version auto fell back.
func (s *clientCore) noteFallback(reason string) { s.connack.FallbackReason = reason }

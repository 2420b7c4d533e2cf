package inspect

import (
	"errors"

	"github.com/ecdata/ectool/capture"
)

// listenerProtocol is what each protocol of a capture.Listener carries.
var listenerProtocol = map[string]Protocol{
	capture.ProtoMQTT:    ProtoMQTT,
	capture.ProtoMQTTWS:  ProtoWS,
	capture.ProtoMQTTTLS: ProtoTLS,
}

// PortProtocols maps the listeners a capture names (the lab ring's pcapng
// comment, read by capture.ParseListeners) to what their ports carry, so
// the lab's recording decodes without --ports: TLS and WebSocket on
// ephemeral ports cannot be recognised from a CONNECT. Listeners of a
// protocol inspect does not know are left out; nil when none is left.
func PortProtocols(ls []capture.Listener) map[uint16]Protocol {
	var out map[uint16]Protocol
	for _, l := range ls {
		proto, ok := listenerProtocol[l.Protocol]
		if !ok || l.Addr.Port() == 0 {
			continue
		}
		if out == nil {
			out = map[uint16]Protocol{}
		}
		if _, seen := out[l.Addr.Port()]; !seen {
			out[l.Addr.Port()] = proto
		}
	}
	return out
}

// readError records an error the reader returned: a file of the input
// could not be read (permission, a disk error); its other files go on.
func (an *analysis) readError(err error) {
	p := InputProblem{Input: "input", IOError: true, Error: err.Error()}
	var fe *capture.FileError
	if errors.As(err, &fe) {
		p.Input, p.Error = fe.File, fe.Err.Error()
	}
	an.res.Input.Problems = append(an.res.Input.Problems, p)
}

// inputEnd records what the reader found at the end: ring files that could
// not be opened, and torn records (a capture stopped mid-write; the records
// before them were used).
func (an *analysis) inputEnd(m *capture.Merger) {
	for _, u := range m.Unreadable() {
		an.res.Input.Problems = append(an.res.Input.Problems, InputProblem{Input: u.File, IOError: true, Error: u.Err.Error()})
	}
	for _, t := range m.Torn() {
		an.res.Input.Problems = append(an.res.Input.Problems, InputProblem{Input: t.File, Truncated: true,
			Offset: t.Offset, Bytes: t.Bytes, Error: t.Reason})
	}
}

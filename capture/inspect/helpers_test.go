package inspect_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ecdata/ectool/capture"
	"github.com/ecdata/ectool/capture/inspect"
)

// record is a Message copied out of the OnMessage call (a Message is only
// valid during it).
type record struct {
	inspect.Message
	Connect *inspect.ConnectFields
}

func copyMessage(m *inspect.Message) record {
	r := record{Message: *m}
	r.ClientID = strings.Clone(m.ClientID)
	r.Topic = strings.Clone(m.Topic)
	r.Reason = strings.Clone(m.Reason)
	r.Malformed = strings.Clone(m.Malformed)
	r.Payload = append([]byte(nil), m.Payload...)
	r.ReasonCodes = append([]byte(nil), m.ReasonCodes...)
	r.Filters = nil
	for _, f := range m.Filters {
		r.Filters = append(r.Filters, inspect.Filter{Filter: strings.Clone(f.Filter), QoS: f.QoS})
	}
	r.Props = copyProps(m.Props)
	if c := m.Connect; c != nil {
		cc := *c
		cc.ProtocolName = strings.Clone(c.ProtocolName)
		cc.Username = strings.Clone(c.Username)
		cc.WillTopic = strings.Clone(c.WillTopic)
		cc.WillPayload = append([]byte(nil), c.WillPayload...)
		cc.WillProperties = copyProps(c.WillProperties)
		r.Connect = &cc
		r.Message.Connect = &cc
	}
	return r
}

func copyProps(p *inspect.Props) *inspect.Props {
	if p == nil {
		return nil
	}
	c := *p
	c.ContentType = strings.Clone(p.ContentType)
	c.ResponseTopic = strings.Clone(p.ResponseTopic)
	c.CorrelationData = append([]byte(nil), p.CorrelationData...)
	c.AssignedClientID = strings.Clone(p.AssignedClientID)
	c.AuthMethod = strings.Clone(p.AuthMethod)
	c.AuthData = append([]byte(nil), p.AuthData...)
	c.ReasonString = strings.Clone(p.ReasonString)
	c.User = nil
	for _, u := range p.User {
		u.Key, u.Value = strings.Clone(u.Key), strings.Clone(u.Value)
		c.User = append(c.User, u)
	}
	return &c
}

// decodeFile inspects a capture and returns every control packet and the
// result.
func decodeFile(t testing.TB, path string, o inspect.Options) ([]record, *inspect.Result) {
	t.Helper()
	src, err := capture.MergeFiles([]string{path})
	if err != nil {
		t.Fatalf("opening %s: %v", path, err)
	}
	defer src.Close()
	var recs []record
	o.OnMessage = func(m *inspect.Message) error {
		recs = append(recs, copyMessage(m))
		return nil
	}
	res, err := inspect.Inspect(context.Background(), src, o)
	if err != nil {
		t.Fatalf("inspecting %s: %v", path, err)
	}
	return recs, res
}

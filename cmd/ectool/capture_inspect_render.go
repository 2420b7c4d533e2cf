package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/ecdata/ectool/capture/inspect"
	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/probe/mqtt"
)

// previewBytes is how much of a payload --messages shows without --payload.
const previewBytes = 64

// inspectLine is one control packet in --messages -o json. payload,
// payload_base64 and properties are named and shaped as `mqtt sub -o
// json` writes them.
type inspectLine struct {
	Time                 string           `json:"time"`
	Stream               int              `json:"stream"`
	Src                  string           `json:"src"`
	Dst                  string           `json:"dst"`
	Direction            string           `json:"direction"`
	Type                 string           `json:"type"`
	ClientID             *string          `json:"client_id"`
	PacketID             *uint16          `json:"packet_id"`
	Topic                *string          `json:"topic"`
	QoS                  *byte            `json:"qos"`
	Retain               *bool            `json:"retain"`
	Dup                  *bool            `json:"dup"`
	ReasonCode           *int             `json:"reason_code"`
	Reason               *string          `json:"reason"`
	PayloadSize          int              `json:"payload_size"`
	Payload              *string          `json:"payload,omitempty"`
	PayloadBase64        *string          `json:"payload_base64,omitempty"`
	PayloadPreview       *string          `json:"payload_preview,omitempty"`
	PayloadPreviewBase64 *string          `json:"payload_preview_base64,omitempty"`
	Properties           *mqtt.Properties `json:"properties,omitempty"`
	Malformed            string           `json:"malformed,omitempty"`
}

// messageWriter writes --messages records as they are decoded.
type messageWriter struct {
	app     *App
	w       *stream
	payload bool
	line    inspectLine
}

func (mw *messageWriter) write(m *inspect.Message) error {
	l := &mw.line
	*l = inspectLine{Time: report.FormatTime(m.Time), Stream: m.Stream, Src: m.Src.String(), Dst: m.Dst.String(),
		Direction: "to_client", Type: m.Type.String(), PayloadSize: m.PayloadSize, Malformed: m.Malformed}
	if m.ToBroker {
		l.Direction = "to_broker"
	}
	if m.ClientID != "" {
		l.ClientID = &m.ClientID
	}
	if m.HasPacketID {
		l.PacketID = &m.PacketID
	}
	if m.HasReason {
		c := int(m.ReasonCode)
		l.ReasonCode, l.Reason = &c, &m.Reason
	}
	switch m.Type {
	case inspect.Publish:
		l.Topic, l.QoS, l.Retain, l.Dup = &m.Topic, &m.QoS, &m.Retain, &m.Dup
		mw.payloadFields(m)
	case inspect.Subscribe, inspect.Unsubscribe:
		fs := make([]string, len(m.Filters))
		for i, f := range m.Filters {
			fs[i] = f.Filter
		}
		t := strings.Join(fs, ", ")
		l.Topic = &t
	case inspect.Suback, inspect.Unsuback:
		if len(m.ReasonCodes) > 0 {
			c := int(m.ReasonCodes[0])
			words := make([]string, len(m.ReasonCodes))
			for i, rc := range m.ReasonCodes {
				v := mqtt.V5
				if m.Version != "5" {
					v = mqtt.V311
				}
				pkt := mqtt.PacketSuback
				if m.Type == inspect.Unsuback {
					pkt = mqtt.PacketUnsuback
				}
				words[i] = mqtt.ReasonText(v, pkt, rc)
			}
			r := strings.Join(words, ", ")
			l.ReasonCode, l.Reason = &c, &r
		}
	}
	if mw.app.JSON() {
		return mw.w.Record(l)
	}
	return mw.w.Line(textMessage(l))
}

func (mw *messageWriter) payloadFields(m *inspect.Message) {
	l := &mw.line
	p := m.Payload
	if mw.payload && !m.PayloadTruncated {
		if utf8.Valid(p) {
			s := string(p)
			l.Payload = &s
		} else {
			s := base64.StdEncoding.EncodeToString(p)
			l.PayloadBase64 = &s
		}
	} else if len(p) > 0 {
		cut := p[:min(len(p), previewBytes)]
		if t := trimRune(cut); len(t) > 0 && utf8.Valid(t) {
			s := string(t)
			l.PayloadPreview = &s
		} else {
			s := base64.StdEncoding.EncodeToString(cut)
			l.PayloadPreviewBase64 = &s
		}
	}
	pr := m.Properties
	if pr.ContentType != "" || pr.MessageExpiry != nil || pr.PayloadFormat != nil || pr.ResponseTopic != "" || pr.CorrelationData != nil || len(pr.UserProperties) > 0 {
		l.Properties = &pr
	}
}

// trimRune drops a UTF-8 sequence cut at the end of b.
func trimRune(b []byte) []byte {
	for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
		if utf8.Valid(b) {
			return b
		}
		b = b[:len(b)-1]
	}
	return b
}

// textMessage is one --messages line for a person.
func textMessage(l *inspectLine) string {
	var b strings.Builder
	arrow := ">"
	fmt.Fprintf(&b, "%s #%d %s %s %s %-11s", l.Time, l.Stream, l.Src, arrow, l.Dst, strings.ToUpper(l.Type))
	if l.ClientID != nil {
		fmt.Fprintf(&b, " client=%s", *l.ClientID)
	}
	if l.PacketID != nil {
		fmt.Fprintf(&b, " id=%d", *l.PacketID)
	}
	if l.Topic != nil {
		fmt.Fprintf(&b, " topic=%s", *l.Topic)
	}
	if l.QoS != nil {
		fmt.Fprintf(&b, " qos=%d", *l.QoS)
	}
	if l.Retain != nil && *l.Retain {
		b.WriteString(" retain")
	}
	if l.Dup != nil && *l.Dup {
		b.WriteString(" dup")
	}
	if l.ReasonCode != nil {
		fmt.Fprintf(&b, " rc=0x%02X (%s)", *l.ReasonCode, *l.Reason)
	}
	if l.Type == "publish" {
		fmt.Fprintf(&b, " %dB", l.PayloadSize)
		switch {
		case l.Payload != nil:
			b.WriteString(" " + textPayload([]byte(*l.Payload)))
		case l.PayloadBase64 != nil:
			b.WriteString(" [base64] " + *l.PayloadBase64)
		case l.PayloadPreview != nil:
			b.WriteString(" " + textPayload([]byte(*l.PayloadPreview)))
		case l.PayloadPreviewBase64 != nil:
			b.WriteString(" [base64] " + *l.PayloadPreviewBase64)
		}
	}
	if l.Malformed != "" {
		b.WriteString(" MALFORMED: " + l.Malformed)
	}
	return b.String()
}

// renderInspect writes the result: the report as JSON (the last JSON Lines
// record after --messages, as {"report": ...}), or the tables and the
// checks as text.
func renderInspect(app *App, out *stream, rep *report.Report, res *inspect.Result, opts *CaptureInspectOptions) error {
	if app.JSON() && opts.Messages {
		_ = out.Record(map[string]any{"report": rep})
		return out.Close()
	}
	if opts.Messages && res.Messages > 0 && !app.JSON() {
		_ = out.Line("")
	}
	if err := out.Close(); err != nil {
		return err
	}
	if !app.JSON() {
		writeConnectionTable(app.IO.Out, res)
		writeTopicTable(app.IO.Out, res)
	}
	return app.renderReport(rep)
}

func writeConnectionTable(w io.Writer, res *inspect.Result) {
	if len(res.Connections) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STREAM\tCLIENT ID\tCLIENT\tPROTO\tVER\tKEEPALIVE\tSTART\tDURATION\tPKTS\tQOS OK/OPEN/LOST\tACK p99\tENDED")
	for _, c := range res.Connections {
		id := "-"
		if c.ClientID != nil {
			id = truncate(*c.ClientID, 32)
			if id == "" {
				id = "(empty)"
			}
		}
		ver := c.Version
		if ver == "" {
			ver = "?"
		}
		if c.VersionFrom == "inferred" || c.VersionFrom == "assumed" {
			ver += "*"
		}
		ka := "-"
		if c.KeepAliveS != nil {
			ka = fmt.Sprintf("%ds", *c.KeepAliveS)
		}
		p99 := "-"
		if c.QoS.AckP99MS != nil {
			p99 = fmtMS(*c.QoS.AckP99MS)
		}
		proto := c.Protocol
		if c.TLS != nil && c.TLS.Version != "" {
			proto += " " + c.TLS.Version
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d/%d/%d\t%s\t%s\n", c.Stream, id, c.Client, proto, ver, ka,
			c.Start.T().Local().Format("15:04:05.000 MST"), fmtMS(c.DurationMS),
			c.PacketsToBroker+c.PacketsToClient, c.QoS.Completed, c.QoS.OpenAtEnd, c.QoS.Incomplete+c.QoS.Refused, p99, endWords(c.End))
	}
	tw.Flush()
	fmt.Fprintln(w)
}

// fmtMS shows milliseconds readably: 0.42 ms, 12.3 ms, 4.2 s, 3m20s.
func fmtMS(ms float64) string {
	switch {
	case ms < 10:
		return fmt.Sprintf("%.2f ms", ms)
	case ms < 1000:
		return fmt.Sprintf("%.1f ms", ms)
	case ms < 60000:
		return fmt.Sprintf("%.1f s", ms/1000)
	}
	return (time.Duration(ms) * time.Millisecond).Round(time.Second).String()
}

func endWords(e inspect.End) string {
	s := strings.ReplaceAll(e.How, "_", " ")
	if e.By != "" {
		s += " by " + e.By
	}
	if e.ReasonCode != nil {
		s += fmt.Sprintf(" (0x%02X %s)", *e.ReasonCode, e.Reason)
	}
	return s
}

func writeTopicTable(w io.Writer, res *inspect.Result) {
	if len(res.Topics) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPUBLISHES\tTO BROKER\tTO CLIENTS\tQOS 0/1/2\tRETAINED\tDUP\tBYTES\tRATE/min")
	for _, t := range res.Topics {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d/%d/%d\t%d\t%d\t%d\t%.2f\n", truncate(t.Topic, 60), t.Publishes, t.ToBroker, t.ToClients,
			t.QoS0, t.QoS1, t.QoS2, t.Retained, t.Dup, t.Bytes, t.RatePerMin)
	}
	tw.Flush()
	fmt.Fprintln(w)
}

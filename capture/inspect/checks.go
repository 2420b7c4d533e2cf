package inspect

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/ecdata/ectool/diag/report"
	"github.com/ecdata/ectool/probe/mqtt"
)

// The check IDs inspect reports (docs/checks.md lists them).
const (
	CheckInput      = "inspect.input"
	CheckDecode     = "inspect.decode"
	CheckConnect    = "inspect.connect"
	CheckReconnects = "inspect.reconnects"
	CheckKeepAlive  = "inspect.keepalive"
	CheckQoS        = "inspect.qos"
	CheckSubscribe  = "inspect.subscribe"
	CheckSize       = "inspect.size"
	CheckTLS        = "inspect.tls"
	CheckTCP        = "inspect.tcp"
)

// Report adds inspect's checks and details to rep: one check per kind of
// problem, ok when none was found, each with its count and first
// instances as evidence.
func (r *Result) Report(rep *report.Report, ports []uint16) {
	rep.Add(r.inputCheck(ports))
	rep.SetDetail("capture", r.summary())
	conns := r.Connections
	if conns == nil {
		conns = []*Connection{}
	}
	topics := r.Topics
	if topics == nil {
		topics = []*Topic{}
	}
	rep.SetDetail("connections", conns)
	rep.SetDetail("topics", topics)
	if len(r.Connections) == 0 {
		why := "no MQTT connection in the capture"
		for _, id := range []string{CheckDecode, CheckConnect, CheckReconnects, CheckKeepAlive, CheckQoS, CheckSubscribe, CheckSize, CheckTLS, CheckTCP} {
			rep.Skip(id, checkTitles[id], why)
		}
		return
	}
	rep.Add(findingsCheck(CheckDecode, r.Decode, report.Failed,
		"a client or the broker sent packets that break MQTT (evidence): update that device's MQTT library or firmware; a capture cut by its snap length shows the same, recapture with tcpdump -s 0"))
	rep.Add(r.connectCheck())
	rep.Add(findingsCheck(CheckReconnects, r.Reconnects, report.Failed,
		"look at how each of that client's connections ended (details.connections[].end): a keep-alive longer than a NAT or firewall idle timeout, a broker refusing it, or two devices sharing one client id (taken_over)"))
	rep.Add(findingsCheck(CheckKeepAlive, r.KeepAlive, report.Warning,
		"the client sent nothing, not even PINGREQ, for longer than 1.5 × its keep-alive, so the broker may drop it: check the device's keep-alive timer, and that no NAT or firewall times out a quieter link"))
	rep.Add(r.qosCheck())
	rep.Add(findingsCheck(CheckSubscribe, r.Subscribe, report.Warning,
		"the broker refused these topic filters: check the user's ACL and the filter's syntax"))
	rep.Add(findingsCheck(CheckSize, r.Size, report.Failed,
		"packets larger than the receiver's maximum packet size are dropped and the sender disconnected (0x95): send smaller payloads, or raise the limit (mosquitto: max_packet_size)"))
	rep.Add(r.tlsCheck())
	rep.Add(r.tcpCheck())
}

var checkTitles = map[string]string{
	CheckInput:      "the capture was read whole",
	CheckDecode:     "every MQTT packet decodes",
	CheckConnect:    "every CONNECT was accepted",
	CheckReconnects: "no client reconnects 5 times within 60 s",
	CheckKeepAlive:  "clients speak within 1.5 × their keep-alive",
	CheckQoS:        "QoS 1/2 publishes were acknowledged",
	CheckSubscribe:  "subscriptions were granted",
	CheckSize:       "packets fit the peer's maximum packet size",
	CheckTLS:        "TLS handshakes completed without alerts",
	CheckTCP:        "no TCP retransmissions or zero windows",
}

func findingsCheck(id string, f Findings, bad report.Status, hint string) report.Check {
	c := report.Check{ID: id, Title: checkTitles[id], Status: report.OK, Evidence: map[string]any{"count": f.Count}}
	if f.Count > 0 {
		c.Status = bad
		c.Evidence["first"] = f.First
		c.Hint = hint
	}
	return c
}

func (r *Result) inputCheck(ports []uint16) report.Check {
	in := r.Input
	ev := map[string]any{"packets": in.Packets, "not_tcp": in.NotTCP, "inputs": r.Inputs}
	c := report.Check{ID: CheckInput, Title: checkTitles[CheckInput], Status: report.OK, Evidence: ev}
	var warn []string
	if len(in.Problems) > 0 {
		ev["problems"] = in.Problems
		trunc := 0
		for _, p := range in.Problems {
			if p.Truncated {
				trunc++
			}
		}
		ev["truncated_records"] = trunc
		warn = append(warn, fmt.Sprintf("%d part(s) could not be read (%d truncated final record(s), skipped)", len(in.Problems), trunc))
	}
	if len(in.LinkTypes) > 0 {
		ev["unknown_link_types"] = in.LinkTypes
		warn = append(warn, "frames of a link type inspect does not read were skipped")
	}
	if in.SnapCut > 0 {
		ev["snaplen_cut"] = in.SnapCut
		warn = append(warn, fmt.Sprintf("%d segment(s) were cut by the capture's snap length", in.SnapCut))
	}
	if in.Holes > 0 {
		ev["stream_holes"] = in.Holes
		warn = append(warn, fmt.Sprintf("%d hole(s) in MQTT streams: segments the capture lost (the packets around them were decoded)", in.Holes))
	}
	if in.BufferDrops > 0 {
		ev["buffer_drops"] = in.BufferDrops
		warn = append(warn, fmt.Sprintf("%d packet(s) split over segments could not be buffered (memory bound)", in.BufferDrops))
	}
	if in.Fragments > 0 {
		ev["ip_fragments"] = in.Fragments
	}
	if in.OutsideWindow > 0 {
		ev["outside_window"] = in.OutsideWindow
	}
	if len(r.Connections) == 0 {
		names := make([]string, len(ports))
		for i, p := range ports {
			names[i] = strconv.Itoa(int(p))
		}
		warn = append(warn, "no MQTT connection found on ports "+strings.Join(names, ", "))
		c.Hint = "if the broker listens elsewhere, name its port with --ports; a capture filtered on other ports holds no MQTT"
	}
	if len(warn) > 0 {
		c.Status = report.Warning
		ev["problem"] = strings.Join(warn, "; ")
		if c.Hint == "" {
			c.Hint = "the packets around the damaged parts are analysed; a capture stopped mid-write (power cut, kill -9) loses its last record, a snap length below 262144 cuts payloads (capture with -s 0), and a capture that cannot keep up loses segments (tcpdump's 'dropped by kernel': raise its buffer, -B)"
		}
	}
	return c
}

func (r *Result) connectCheck() report.Check {
	c := findingsCheck(CheckConnect, r.Refused, report.Failed, "")
	c.Evidence["packets_before_connack"] = r.PacketsBeforeConnack
	if r.ConnackWithoutConnect > 0 {
		c.Evidence["connack_without_connect"] = r.ConnackWithoutConnect
	}
	if r.ConnectsPending > 0 {
		c.Evidence["pending_at_end"] = r.ConnectsPending
	}
	if r.Refused.Count > 0 {
		first := r.Refused.First[0]
		c.Hint = "the broker refused " + clientWords(first) + ": check its settings"
		if first.Code != nil {
			version := mqtt.V311
			if conn := r.connection(first.Stream); conn != nil && conn.Version == "5" {
				version = mqtt.V5
			}
			if h := connectHint(version, byte(*first.Code)); h != "" {
				c.Hint = "the broker refused " + clientWords(first) + ": " + h
			}
		} else if strings.HasPrefix(first.What, "no CONNACK") {
			c.Hint = "the broker closed " + clientWords(first) + " without answering its CONNECT: an unsupported protocol version, a client id it rejects, or a plugin refusing it; look at the broker's log"
		}
		return c
	}
	if r.ConnackWithoutConnect > 0 {
		c.Status = report.Warning
		c.Hint = "CONNACKs came on connections whose start was captured but not their CONNECT: the capture lost packets"
	}
	if r.ConnectsPending > 0 && c.Status == report.OK {
		c.Status = report.Warning
		c.Hint = "a CONNECT was still unanswered when the capture ended: capture longer to see the broker's answer"
	}
	return c
}

// connectHint is the next step for a refused CONNECT seen in a capture:
// about the device's settings, where probe/mqtt's hints (written for
// ectool's own connections) name ectool's flags.
func connectHint(v mqtt.Version, code byte) string {
	v5 := v == mqtt.V5
	switch {
	case (!v5 && code == 4) || (v5 && code == 0x86):
		return "the device's user name or password is wrong: check them against the broker's account (inspect never shows the password)"
	case (!v5 && code == 5) || (v5 && code == 0x87):
		return "the broker does not let this client in: often wrong credentials (mosquitto answers those with not authorized), else the account or the client certificate is not allowed: check the device's credentials and the broker's ACL"
	case (!v5 && code == 2) || (v5 && code == 0x85):
		return "the broker rejects this client id (too long, odd characters, or empty): give the device a client id the broker accepts"
	case (!v5 && code == 1) || (v5 && code == 0x84):
		return "the broker does not speak the device's MQTT version: set the device to MQTT 3.1.1, or upgrade the broker"
	}
	return mqtt.ReasonHint(v, mqtt.PacketConnack, code)
}

func clientWords(in Instance) string {
	if in.ClientID != "" {
		return fmt.Sprintf("client %q (%s, stream %d)", in.ClientID, in.Client, in.Stream)
	}
	return fmt.Sprintf("the client at %s (stream %d)", in.Client, in.Stream)
}

func (r *Result) connection(stream int) *Connection {
	for _, c := range r.Connections {
		if c.Stream == stream {
			return c
		}
	}
	return nil
}

func (r *Result) qosCheck() report.Check {
	c := findingsCheck(CheckQoS, r.QoS, report.Failed,
		"QoS 1/2 publishes went unacknowledged or were refused: look at the broker's log and ACL (a refusal's reason code says which), its queue limits (max_inflight_messages, max_queued_messages), and whether the connection dropped before the acknowledgement")
	c.Evidence["open_at_end"] = r.QoSOpen.Count
	var completed, dups int
	for _, conn := range r.Connections {
		completed += conn.QoS.Completed
		dups += conn.QoS.Dup
	}
	c.Evidence["completed"] = completed
	c.Evidence["dup_retransmissions"] = dups
	if r.QoSOpen.Count > 0 {
		c.Evidence["open_first"] = r.QoSOpen.First
		if c.Status == report.OK {
			c.Status = report.Warning
			c.Hint = "some QoS 1/2 flows were still open when the capture ended, too soon after them to call them lost: capture longer to know"
		}
	}
	return c
}

func (r *Result) tlsCheck() report.Check {
	c := findingsCheck(CheckTLS, r.TLS, report.Failed, "")
	n, versions := 0, map[string]int{}
	for _, conn := range r.Connections {
		if conn.TLS != nil {
			n++
			if conn.TLS.Version != "" {
				versions[conn.TLS.Version]++
			}
		}
	}
	c.Evidence["connections"] = n
	if len(versions) > 0 {
		c.Evidence["versions"] = versions
	}
	if r.TLS.Count > 0 {
		c.Hint = tlsHint(r.TLS.First[0].What)
	}
	return c
}

// tlsHint turns the first TLS problem into the next step.
func tlsHint(what string) string {
	const tail = " (the TLS payload stays encrypted here: to see the MQTT inside, capture with the client's key log, SSLKEYLOGFILE, and open it in Wireshark)"
	switch {
	case strings.Contains(what, "unknown_ca"), strings.Contains(what, "rejected the broker"),
		strings.Contains(what, "bad_certificate") && strings.HasPrefix(what, "client"):
		return "the client does not trust the broker's certificate: install the CA that signed it on the device, and check the name it was issued for" + tail
	case strings.Contains(what, "certificate_required"), strings.Contains(what, "bad_certificate"):
		return "the broker wants a client certificate it trusts: configure the device's certificate and key (mutual TLS)" + tail
	case strings.Contains(what, "certificate_expired"):
		return "a certificate has expired: renew it, and check the device's clock" + tail
	case strings.Contains(what, "protocol_version"), strings.Contains(what, "handshake_failure"):
		return "client and broker share no TLS version or cipher suite: compare versions_offered with the broker's settings" + tail
	case strings.Contains(what, "unrecognized_name"):
		return "the broker does not know the server name (SNI) the client asked for: check the broker host name configured on the device" + tail
	}
	return "the TLS handshake did not complete: check the certificates, the server name (SNI) and the TLS versions on both sides" + tail
}

func (r *Result) tcpCheck() report.Check {
	t := r.TCP
	c := report.Check{ID: CheckTCP, Title: checkTitles[CheckTCP], Status: report.OK,
		Evidence: map[string]any{"retransmissions": t.Retransmissions, "zero_windows": t.ZeroWindows, "count": t.Retransmissions + t.ZeroWindows}}
	if t.Retransmissions+t.ZeroWindows > 0 {
		c.Status = report.Warning
		c.Evidence["first"] = t.First
		c.Hint = "retransmissions point at a lossy link (radio, modem), zero windows at a receiver that cannot keep up: compare with the modem's signal and the broker's load"
	}
	return c
}

// summary is details.capture: what was read, when, and what was found.
func (r *Result) summary() map[string]any {
	s := map[string]any{
		"inputs": r.Inputs, "packets": r.Input.Packets, "messages": r.Messages,
		"connections": len(r.Connections), "topics": len(r.Topics),
		"start": Stamp(r.Start), "end": Stamp(r.End), "duration_ms": msSince(r.Start, r.End),
	}
	if w := r.Window; !w.From.IsZero() || !w.To.IsZero() {
		// The window as capture export clips it: [from, to).
		s["window"] = map[string]any{"from": Stamp(w.From), "to": Stamp(w.To)}
		s["packets_in_window"] = r.Input.Packets - r.Input.OutsideWindow
	}
	if len(r.LearnedPorts) > 0 {
		ports := make([]int, 0, len(r.LearnedPorts))
		for p := range r.LearnedPorts {
			ports = append(ports, int(p))
		}
		sort.Ints(ports)
		learned := make([]map[string]any, len(ports))
		for i, p := range ports {
			learned[i] = map[string]any{"port": p, "protocol": r.LearnedPorts[uint16(p)]}
		}
		s["learned_ports"] = learned
	}
	return s
}

package mqtt

import "github.com/ecdata/ectool/diag/report"

// Report fills rep with the run: mqtt.connect, then mqtt.publish (or the
// step that failed), and the counts as details once the broker was
// reached. err is Publish's error.
func (r *PublishResult) Report(rep *report.Report, err error) {
	if r.ConnAck == nil {
		addFailedStep(rep, err, StepConnect)
		return
	}
	ev := map[string]any{"mqtt_version": string(r.ConnAck.Version)}
	if r.ConnAck.FallbackReason != "" {
		ev["fell_back"], ev["fallback_reason"] = true, r.ConnAck.FallbackReason
	}
	rep.Add(report.Check{ID: CheckConnect, Title: stepTitle(StepConnect), Status: report.OK, Evidence: ev})
	details := map[string]any{
		"topic": r.Topic, "qos": r.QoS, "retain": r.Retain,
		"mqtt_version": string(r.Version),
		"sent":         r.Sent, "refused": r.Refused,
		"duration_ms": report.Millis(r.Elapsed),
		"rate_per_s":  r.RatePerSecond(),
	}
	if r.QoS > 0 {
		details["acknowledged"] = r.Acknowledged
		details["no_matching_subscribers"] = r.NoSubscribers
	}
	for k, v := range details {
		rep.SetDetail(k, v)
	}
	if err != nil {
		addFailedStep(rep, err, StepPublish)
		return
	}
	ev = map[string]any{"sent": r.Sent, "qos": r.QoS}
	if note := r.Unproven(); note != "" {
		ev["note"] = note
	}
	rep.Add(report.Check{ID: "mqtt.publish", Title: stepTitle(StepPublish), Status: report.OK,
		Evidence: ev, DurationMS: report.Millis(r.Elapsed)})
}

// addFailedStep records err as the failed check of the step it names (def
// when it names none).
func addFailedStep(rep *report.Report, err error, def Step) {
	msg, hint := Explain(err)
	step := StepOf(err)
	if step == "" {
		step = def
	}
	ev := map[string]any{"error": msg}
	if reason := FallbackReason(err); reason != "" {
		ev["fell_back"], ev["fallback_reason"] = true, reason
	}
	rep.Add(report.Check{ID: "mqtt." + string(step), Title: stepTitle(step), Status: report.Failed,
		Evidence: ev, Hint: hint})
}

// stepTitle is the title of a pub or clear-retained check, the same
// whether it passed or failed.
func stepTitle(step Step) string {
	switch step {
	case StepDNS:
		return "resolve the broker host"
	case StepTCP:
		return "open a TCP connection to the broker"
	case StepTLS:
		return "TLS handshake"
	case StepConnect:
		return "CONNECT accepted"
	case StepSubscribe:
		return "subscribed to the filters"
	case StepPublish:
		return "messages published"
	case StepReceive:
		return "connection stayed up"
	}
	return "step " + string(step)
}

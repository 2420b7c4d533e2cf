package tour

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ecdata/ectool/capture"
	"github.com/ecdata/ectool/diag/report"
)

// The steps on the lab's recording of its own broker: the ring is live
// and fresh, an export holds packets, and capture inspect explains a
// refused login it recorded.

// captureDir is the lab's ring directory, or why the capture steps skip.
func captureDir(tr *Tour) (string, string) {
	switch c := tr.EP.Capture; {
	case c == nil:
		return "", "the lab runs without recording its broker (--no-capture)"
	case c.Error != "":
		return "", "the lab could not record its broker: " + c.Error
	default:
		return c.Dir, ""
	}
}

func stepCapture(ctx context.Context, tr *Tour) Verdict {
	dir, why := captureDir(tr)
	if why != "" {
		return skip("%s", why)
	}
	if _, v := wantReport(tr.Run(ctx, "capture", "status", "--dir", dir), 0,
		map[string]report.Status{"capture.running": ok, "capture.fresh": ok}); v.failed() {
		v.Hint = "the lab records its broker while it runs"
		return v
	}
	out, err := tr.WriteScratch("tour-export.pcapng", "")
	if err == nil {
		err = os.Remove(out) // export creates it
	}
	if err != nil {
		return problem("cannot prepare the export file: %v", err)
	}
	c := tr.Run(ctx, "capture", "export", "--dir", dir, "--since", "30s", "-w", out)
	return judgeExport(c, out)
}

// judgeExport wants an export that says it wrote packets, and a file that
// holds that many.
func judgeExport(c *Command, file string) Verdict {
	d, v := wantReport(c, 0, nil)
	if v.failed() {
		return v
	}
	var ed struct {
		Export struct {
			Path    string `json:"path"`
			Packets int    `json:"packets"`
		} `json:"export"`
	}
	if err := d.DetailsInto(&ed); err != nil {
		return problem("capture export: %v", err)
	}
	if ed.Export.Packets == 0 {
		return problem("capture export wrote no packet from the last 30 s of the lab's ring")
	}
	n, err := countPackets(file)
	switch {
	case err != nil:
		return problem("the exported file %s: %v", file, err)
	case n != ed.Export.Packets:
		return problem("the exported file holds %d packets, the export said %d", n, ed.Export.Packets)
	}
	return Verdict{}.with("exported_packets", n)
}

// countPackets reads a capture file through and counts its packets.
func countPackets(file string) (int, error) {
	r, err := capture.OpenFile(file)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	n := 0
	for {
		if _, err := r.Next(); err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
		n++
	}
}

// stepInspect logs in with a wrong password on the plain listener, waits
// for the lab's recorder to write it out, and has capture inspect find
// the refusal in the ring.
func stepInspect(ctx context.Context, tr *Tour) Verdict {
	dir, why := captureDir(tr)
	if why != "" {
		return skip("%s", why)
	}
	wrong, err := tr.WriteScratch("wrong.password", "not-the-password\n")
	if err != nil {
		return problem("cannot write the wrong password file: %v", err)
	}
	tag := randomTag()
	client := "tour-wrong-pw-" + tag
	pub := tr.Run(ctx, "mqtt", "pub", "-b", tr.EP.Broker.MQTT, "-u", "tech", "--password-file", wrong,
		"--client-id", client, "-t", "ectool/tour/"+tag+"/x", "-m", "x")
	if _, v := wantReport(pub, 1, map[string]report.Status{"mqtt.connect": failed}); v.failed() {
		v.Hint = "the broker refuses a wrong password"
		return v
	}
	sent := time.Now()
	tr.Note("the tour waits for the lab's recorder to write out what it heard: it flushes every second")
	if err := waitFor(ctx, nil, func() bool { return flushedAfter(dir, sent) }, "the lab's recorder did not flush in time", ""); err != nil {
		return problem("%v", err)
	}
	// No --ports: inspect reads the lab's listeners from the ring's own
	// pcapng comment.
	c := tr.Run(ctx, "capture", "inspect", "--since", "30s", "--client", client, dir)
	return judgeInspect(c, client)
}

// flushedAfter reports whether the ring's writer flushed after t.
func flushedAfter(dir string, t time.Time) bool {
	s, err := capture.ReadStatus(dir)
	return err == nil && s.UpdatedAt.After(t)
}

// judgeInspect wants exit 1 and inspect.connect failed, naming client and
// reason 0x86 (bad user name or password).
func judgeInspect(c *Command, client string) Verdict {
	d, v := wantReport(c, 1, map[string]report.Status{"inspect.input": ok, "inspect.connect": failed})
	if v.failed() {
		v.Hint = "the ring holds a CONNECT the broker refused"
		return v
	}
	var first []struct {
		ClientID string `json:"client_id"`
		Code     *int   `json:"reason_code"`
	}
	if err := evidenceInto(d.Check("inspect.connect"), "first", &first); err != nil {
		return problem("inspect.connect's evidence does not list the refused connections (first): %v", err)
	}
	for _, in := range first {
		if in.ClientID == client && in.Code != nil && *in.Code == 0x86 {
			return Verdict{}.with("client_id", client, "reason_code", "0x86")
		}
	}
	return problem("inspect.connect does not name client %q refused with reason 0x86", client)
}

// evidenceInto decodes the evidence key of check c into v.
func evidenceInto(c *report.Check, key string, v any) error {
	if c == nil {
		return errors.New("absent from the report")
	}
	raw, found := c.Evidence[key]
	if !found {
		return fmt.Errorf("no %q in its evidence", key)
	}
	b, err := json.Marshal(raw)
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	return err
}

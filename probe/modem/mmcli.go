package modem

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ecdata/ectool/diag/exitcode"
	"github.com/ecdata/ectool/diag/report"
)

// MMCLIError is mmcli failing to run or to find a modem: the probe could
// not look at one (exit 3).
type MMCLIError struct {
	Args []string
	Err  error
	// Stderr is mmcli's own words.
	Stderr string
}

func (e *MMCLIError) Error() string {
	s := fmt.Sprintf("mmcli %s: %v", strings.Join(e.Args, " "), e.Err)
	if e.Stderr != "" {
		s += ": " + e.Stderr
	}
	return s
}

func (e *MMCLIError) Unwrap() error { return e.Err }

// Hint says what to do about it.
func (e *MMCLIError) Hint() string {
	low := strings.ToLower(e.Stderr)
	switch {
	case errors.Is(e.Err, exec.ErrNotFound), errors.Is(e.Err, fs.ErrNotExist):
		return "mmcli is not installed: install ModemManager, or drop --mmcli to talk AT to the modem's port"
	case strings.Contains(low, "couldn't find modem"), strings.Contains(low, "no modems were found"):
		return "ModemManager knows no modem: check the modem is powered and enumerated (lsusb), and that ModemManager has not been told to ignore it"
	case strings.Contains(low, "couldn't") && strings.Contains(low, "modemmanager"), strings.Contains(low, "not running"):
		return "ModemManager is not running: 'systemctl start ModemManager', or drop --mmcli and probe the AT port"
	}
	return "mmcli failed: run the same mmcli command by hand to see why"
}

// mmObject is one mmcli -J document: every value is a string ("--" when
// empty) or a list of strings, nested by key.
type mmObject map[string]any

// get reads a dotted path ("modem.generic.state"); "" for absent or "--".
func (o mmObject) get(path string) string {
	v := o.at(path)
	s, _ := v.(string)
	if s == "--" {
		return ""
	}
	return s
}

// list reads a list of strings at a dotted path.
func (o mmObject) list(path string) []string {
	raw, _ := o.at(path).([]any)
	var out []string
	for _, x := range raw {
		if s, ok := x.(string); ok && s != "--" && s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (o mmObject) at(path string) any {
	var cur any = map[string]any(o)
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

// mmcli runs mmcli with read-only arguments and decodes its JSON.
type mmcli struct {
	prog    string
	timeout time.Duration
	log     []Exchange
}

func (m *mmcli) read(ctx context.Context, args ...string) (mmObject, error) {
	args = append(args, "-J")
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, m.prog, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	ex := Exchange{Command: "mmcli " + strings.Join(args, " "), Answer: out.String(), DurationMS: report.Millis(time.Since(start))}
	defer func() { m.log = append(m.log, ex) }()
	if ctx.Err() != nil {
		err = fmt.Errorf("no answer within %s", m.timeout)
	}
	if err != nil {
		me := &MMCLIError{Args: args, Err: err, Stderr: strings.TrimSpace(errOut.String())}
		ex.Error = me.Error()
		return nil, me
	}
	var o mmObject
	if err := json.Unmarshal(out.Bytes(), &o); err != nil {
		ex.Error = err.Error()
		return nil, fmt.Errorf("mmcli %s: the output is not JSON: %v", strings.Join(args, " "), err)
	}
	return o, nil
}

// ProbeMMCLI diagnoses the modem ModemManager manages, from
// `mmcli -m any -J` and the SIM and bearer objects it points to, with the
// same checks as Probe. It only reads: no PIN is sent this way (mmcli
// would take it on its command line, visible to every user). When
// Options.Target names a port, the modem must use it.
func ProbeMMCLI(ctx context.Context, o Options) *Result {
	if o.Now == nil {
		o.Now = time.Now
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	prog := o.MMCLI
	if prog == "" {
		prog = "mmcli"
	}
	r := &Result{Target: o.Target, Via: "mmcli", ExpectedAPN: o.ExpectedAPN, Port: PortState{CMEEWas: -1},
		Modem: Identity{Dialect: DialectGeneric}, summaries: map[string]string{}, Transcript: []Exchange{}}
	p := &mmProber{o: o, r: r, cli: &mmcli{prog: prog, timeout: timeout}}
	p.run(ctx)
	r.Transcript = p.cli.log
	r.Verdict = r.verdict()
	return r
}

type mmProber struct {
	o     Options
	r     *Result
	cli   *mmcli
	modem mmObject
}

func (p *mmProber) run(ctx context.Context) {
	steps := []struct {
		id string
		fn func(context.Context, *report.Check)
	}{
		{CheckPort, p.checkModem}, {CheckSIM, p.checkSIM}, {CheckSignal, p.checkSignal},
		{CheckRegistration, p.checkRegistration}, {CheckOperator, p.checkOperator}, {CheckPDP, p.checkBearer},
	}
	skip := ""
	for _, s := range steps {
		if skip != "" && !(s.id == CheckSignal && skip == CheckSIM+" failed: no registration without a usable SIM") {
			p.r.Checks = append(p.r.Checks, report.Check{ID: s.id, Title: checkTitles[s.id], Status: report.Skipped, SkippedReason: skip})
			continue
		}
		c := report.Check{ID: s.id, Title: checkTitles[s.id], Status: report.OK, Evidence: map[string]any{}}
		start := p.o.Now()
		s.fn(ctx, &c)
		c.DurationMS = report.Millis(p.o.Now().Sub(start))
		p.r.Checks = append(p.r.Checks, c)
		if c.Status == report.Failed && s.id != CheckSignal && skip == "" {
			skip = s.id + " failed"
			if s.id == CheckSIM {
				skip = CheckSIM + " failed: no registration without a usable SIM"
			}
		}
	}
}

func (p *mmProber) fail(c *report.Check, summary, hint, trap string) {
	c.Status, c.Hint = report.Failed, hint
	p.r.summaries[c.ID] = summary
	if trap != "" {
		p.r.summaries[c.ID] += ": " + trap
	}
}

func (p *mmProber) checkModem(ctx context.Context, c *report.Check) {
	m, err := p.cli.read(ctx, "-m", "any")
	if err != nil {
		c.Evidence["error"] = err.Error()
		var me *MMCLIError
		if errors.As(err, &me) {
			p.r.Err = exitcode.Wrap(exitcode.KindCannotRun, err)
			p.fail(c, "ModemManager shows no modem", me.Hint(), "")
			return
		}
		p.fail(c, "mmcli's answer cannot be read", "see the evidence; run 'mmcli -m any -J' by hand", "")
		return
	}
	p.modem = m
	id := &p.r.Modem
	id.Manufacturer, id.Model, id.Revision = m.get("modem.generic.manufacturer"), m.get("modem.generic.model"), m.get("modem.generic.revision")
	id.Dialect = DialectOf(id.Manufacturer)
	ports := m.list("modem.generic.ports")
	for k, v := range map[string]any{
		"manufacturer": id.Manufacturer, "model": id.Model, "revision": id.Revision, "dialect": id.Dialect,
		"state": m.get("modem.generic.state"), "power_state": m.get("modem.generic.power-state"),
		"primary_port": m.get("modem.generic.primary-port"), "ports": ports, "plugin": m.get("modem.generic.plugin"),
		"dbus_path": m.get("modem.dbus-path"),
	} {
		c.Evidence[k] = v
	}
	p.r.summaries[CheckPort] = "ModemManager manages " + strings.TrimSpace(id.Manufacturer+" "+id.Model)
	if p.o.Target != "" && !usesPort(ports, p.o.Target) {
		c.Status = report.Warning
		c.Hint = fmt.Sprintf("ModemManager's modem does not list %s among its ports: it may be another modem; the checks describe the one ModemManager shows", p.o.Target)
	}
	if st := m.get("modem.generic.state"); st == "failed" {
		if reason := m.get("modem.generic.state-failed-reason"); !strings.HasPrefix(reason, "sim") {
			p.fail(c, "ModemManager marks the modem failed ("+reason+")", "see 'mmcli -m any' and ModemManager's log ('journalctl -u ModemManager')", "")
		}
	}
}

// usesPort reports whether ModemManager's port list ("ttyUSB2 (at)")
// names the device.
func usesPort(ports []string, target string) bool {
	base := filepath.Base(target)
	for _, p := range ports {
		if strings.Fields(p)[0] == base {
			return true
		}
	}
	return false
}

func (p *mmProber) checkSIM(ctx context.Context, c *report.Check) {
	m := p.modem
	sim := &SIMInfo{PIN: "not sent (--mmcli reads only)"}
	p.r.SIM = sim
	lock := m.get("modem.generic.unlock-required")
	retries := m.list("modem.generic.unlock-retries")
	if len(retries) > 0 {
		c.Evidence["unlock_retries"] = strings.Join(retries, ", ")
	}
	pin, puk := retriesOf(retries, "sim-pin"), retriesOf(retries, "sim-puk")
	if pin >= 0 || puk >= 0 {
		sim.Attempts = &PINCount{PIN: pin, PUK: puk}
	}
	reason := m.get("modem.generic.state-failed-reason")
	simPath := m.get("modem.generic.sim")
	switch {
	case reason == "sim-missing" || simPath == "" || simPath == "/":
		sim.State = SIMState{Code: "NOT INSERTED", Words: "no SIM"}
		p.fail(c, "no SIM", "insert a SIM (contacts down) in the slot the modem uses, then restart ModemManager or replug the modem", "")
		return
	case reason == "sim-error":
		p.fail(c, "the SIM does not work (sim-error)", "clean the contacts and reseat the SIM, or try another SIM", "")
		return
	case lock == "sim-pin":
		sim.State = SIMState{Code: "SIM PIN", Words: simStateWords["SIM PIN"]}
		p.fail(c, "the SIM waits for its PIN"+attemptsWords(sim.Attempts),
			"unlock it in the gateway's connection settings (NetworkManager keeps the PIN), or drop --mmcli and use --pin-file; ectool never passes a PIN to mmcli, where every user could read it", "")
		return
	case lock == "sim-puk":
		sim.State = SIMState{Code: "SIM PUK", Words: simStateWords["SIM PUK"]}
		p.fail(c, "the SIM is blocked and asks for its PUK"+attemptsWords(sim.Attempts), "unblock it with the PUK from the operator; ectool never sends a PUK", "")
		return
	case lock != "" && lock != "none" && lock != "sim-pin2" && lock != "sim-puk2":
		sim.State = SIMState{Code: strings.ToUpper(lock), Words: "locked (" + lock + ")"}
		p.fail(c, "the SIM is locked ("+lock+")", "this lock needs a code from whoever locked the modem; ectool does not send it", "")
		return
	}
	sim.State = SIMState{Code: "READY", Usable: true, Words: simStateWords["READY"]}
	c.Evidence["state"] = "READY"
	s, err := p.cli.read(ctx, "-i", simPath)
	if err != nil {
		c.Status, c.Hint = report.Warning, "the SIM object could not be read: "+err.Error()
		return
	}
	sim.ICCID, sim.IMSI, sim.ICCIDCommand = s.get("sim.properties.iccid"), s.get("sim.properties.imsi"), "mmcli -i "+simPath
	c.Evidence["iccid"], c.Evidence["imsi"], c.Evidence["sim_operator"] = sim.ICCID, sim.IMSI, s.get("sim.properties.operator-name")
	p.r.summaries[CheckSIM] = "SIM ready"
}

// retriesOf reads "sim-pin (3)" from ModemManager's unlock retries.
func retriesOf(list []string, lock string) int {
	for _, s := range list {
		name, n, ok := strings.Cut(s, " (")
		if ok && strings.TrimSpace(name) == lock {
			if v, err := strconv.Atoi(strings.TrimSuffix(n, ")")); err == nil {
				return v
			}
		}
	}
	return -1
}

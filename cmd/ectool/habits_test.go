package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ecdata/ectool/internal/testenv"
)

// runBinary runs the ectool binary with args (no broker in the
// environment, stdin empty) and returns exit code, stdout and stderr.
func runBinary(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.Binary(t), args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "NO_COLOR=1"}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("ectool %v did not finish\nstderr: %s", args, errOut.String())
	}
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("running ectool: %v", err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

// wordedUsageCase is a line a technician types from habit or by mistake:
// exit 2, the words on stderr, and under -o json one error document
// holding them.
type wordedUsageCase struct {
	args  []string
	words []string
	// json is the line with -o json in it (default: args + -o json).
	json []string
	// never must not show anywhere (a password).
	never string
}

func checkWordedUsage(t *testing.T, cases []wordedUsageCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := runBinary(t, tc.args...)
			if code != ExitUsage || out != "" {
				t.Errorf("exit %d, stdout %q; want exit 2 and nothing on stdout (stderr %q)", code, out, errOut)
			}
			for _, w := range tc.words {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q does not say %q", errOut, w)
				}
			}
			if strings.Contains(errOut, "unknown shorthand") || strings.Contains(errOut, "arg(s)") {
				t.Errorf("stderr %q is cobra's words, not ectool's", errOut)
			}
			if tc.never != "" && strings.Contains(out+errOut, tc.never) {
				t.Errorf("%q shows: %q", tc.never, errOut)
			}
			args := tc.json
			if args == nil {
				args = append(append([]string{}, tc.args...), "-o", "json")
			}
			code, out, errOut = runBinary(t, args...)
			checkJSONError(t, args, ExitUsage, true, false, code, out, errOut)
			var doc errorDocument
			if err := json.Unmarshal([]byte(out), &doc); err != nil || !strings.Contains(doc.Error.Message, tc.words[0]) {
				t.Errorf("-o json: the error document %q does not say %q", out, tc.words[0])
			}
		})
	}
}

func TestMosquittoFlagsMeetTheEctoolForm(t *testing.T) {
	checkWordedUsage(t, []wordedUsageCase{
		{args: []string{"mqtt", "pub", "-h", "broker.local", "-t", "x", "-m", "y"},
			words: []string{"mosquitto's -h host is -b mqtt://broker.local:1883 here"}},
		{args: []string{"mqtt", "sub", "-t", "x", "-h", "10.0.0.5", "-p", "1884"},
			words: []string{"-b mqtt://10.0.0.5:1884"}},
		{args: []string{"mqtt", "check", "-h=broker.local"}, words: []string{"mosquitto's -h host is -b mqtt://broker.local:1883 here"}},
		{args: []string{"mqtt", "sub", "-t", "x", "-hbroker.local"}, words: []string{"-b mqtt://broker.local:1883"}},
		{args: []string{"mqtt", "sub", "-p", "1883", "-t", "x"}, words: []string{"mosquitto's -p 1883", "-b mqtt://HOST:1883"}},
		{args: []string{"mqtt", "check", "-P", "s3cret-pw"}, never: "s3cret-pw",
			words: []string{"mosquitto's -P is --password-file FILE or ECTOOL_MQTT_PASSWORD"}},
		{args: []string{"mqtt", "pub", "--pw=s3cret-pw"}, never: "s3cret-pw", words: []string{"--password-file FILE"}},
		{args: []string{"mqtt", "sub", "--cafile", "ca.pem"}, words: []string{"mosquitto's --cafile ca.pem is --ca ca.pem here"}},
		{args: []string{"mqtt", "pub", "-i", "meter-7"}, words: []string{"mosquitto's -i meter-7 is --client-id meter-7 here"}},
		{args: []string{"mqtt", "check", "-k", "60"}, words: []string{"mosquitto's -k 60 is --keepalive 60s here"}},
		{args: []string{"mqtt", "pub", "-V", "311"}, words: []string{"mosquitto's -V 311 is --mqtt-version 3.1.1 here"}},
		{args: []string{"mqtt", "sub", "-V", "mqttv5"}, words: []string{"--mqtt-version 5 here"}},
		{args: []string{"mqtt", "sub", "-C", "10", "-t", "x"}, words: []string{"mosquitto's -C 10 is --count 10 here"}},
		{args: []string{"mqtt", "sub", "-W", "5", "-t", "x"}, words: []string{"mosquitto's -W 5 is --timeout 5s here"}},
		{args: []string{"mqtt", "pub", "-l", "-t", "x"}, words: []string{"mosquitto's -l is --stdin-lines here"}},
		{args: []string{"mqtt", "pub", "-d"}, words: []string{"mosquitto's -d is -v here"}},
		{args: []string{"mqtt", "sub", "-L", "mqtts://tech:s3cret-pw@broker.local:8883/ec-data/#"}, never: "s3cret-pw",
			words: []string{"mosquitto's -L is -b mqtts://broker.local:8883 -t 'ec-data/#' -u tech --password-file FILE here"}},
		{args: []string{"mqtt", "check", "--keepalive", "60"}, words: []string{"--keepalive 60 has no unit: give 60s"}},
		{args: []string{"mqtt", "check", "--host", "broker.local"}, words: []string{"mosquitto's --host broker.local is -b mqtt://broker.local:1883 here"}},
		{args: []string{"mqtt", "check", "--capath", "/etc/ssl/certs"}, words: []string{"mosquitto's --capath /etc/ssl/certs is --ca FILE here"}},
		{args: []string{"mqtt", "pub", "-I", "gw"}, words: []string{"mosquitto's -I gw is --client-id ID here"}},
		{args: []string{"mqtt", "sub", "-c", "-i", "x"}, words: []string{"mosquitto's -c is --clean-start=false with a fixed --client-id here"}},
		{args: []string{"mqtt", "pub", "-f", "reading.json"}, words: []string{"mosquitto's -f reading.json is --file reading.json here"}},
		{args: []string{"mqtt", "pub", "-n"}, words: []string{"mosquitto's -n is -m '' here"}},
		{args: []string{"mqtt", "pub", "-x", "3600"}, words: []string{"mosquitto's -x 3600 is --expiry 3600s here"}},
		{args: []string{"mqtt", "pub", "-D", "PUBLISH", "user-property", "k", "v"}, words: []string{"is --user-property key=value here"}},
		{args: []string{"mqtt", "pub", "--will-payload", "offline"}, words: []string{"mosquitto's --will-payload offline is --will-message offline here"}},
		{args: []string{"mqtt", "check", "--tls-version", "tlsv1.3"}, words: []string{"mosquitto's --tls-version tlsv1.3 is --tls-min 1.3 here"}},
		{args: []string{"mqtt", "check", "--tls-alpn", "x-amzn-mqtt-ca"}, words: []string{"is --alpn x-amzn-mqtt-ca here"}},
	})
}

func TestMbpollFlagsMeetTheEctoolForm(t *testing.T) {
	checkWordedUsage(t, []wordedUsageCase{
		{args: []string{"scan", "/dev/ttyUSB0", "-a", "17"}, words: []string{"mbpoll's -a 17 is --ids 17 here"}},
		{args: []string{"modbus", "read", "/dev/ttyUSB0", "-a", "1:3"}, words: []string{"mbpoll's -a 1:3 is --unit 1-3 here"}},
		{args: []string{"scan", "/dev/ttyUSB0", "-b", "19200"}, words: []string{"mbpoll's -b 19200 is --baud 19200 here"}},
		{args: []string{"modbus", "watch", "/dev/ttyUSB0", "-b19200"}, words: []string{"--baud 19200 here"}},
		{args: []string{"scan", "/dev/ttyUSB0", "-P", "even"}, words: []string{"mbpoll's -P even is --parity E here"}},
		{args: []string{"scan", "sniff", "/dev/ttyUSB0", "-P", "odd"}, words: []string{"--parity O here"}},
		{args: []string{"modbus", "read", "/dev/ttyUSB0", "-r", "100", "-t", "3:float"},
			words: []string{"mbpoll's -r 100 is --reg 30100 --type f32 here"}},
		{args: []string{"scan", "/dev/ttyUSB0", "-r", "5"}, words: []string{"mbpoll's -r 5 is --probe fc03:40005 here"}},
		{args: []string{"modbus", "read", "/dev/ttyUSB0", "-c", "4"}, words: []string{"mbpoll's -c 4 is --count 4 here"}},
		{args: []string{"scan", "/dev/ttyUSB0", "-c", "4"}, words: []string{"mbpoll's -c 4: scan asks each address for one register", "ectool modbus read --count"}},
		{args: []string{"modbus", "read", "/dev/ttyUSB0", "-t", "4:float"}, words: []string{"mbpoll's -t 4:float is --table holding --type f32 here"}},
		{args: []string{"scan", "/dev/ttyUSB0", "-t", "3"}, words: []string{"mbpoll's -t 3 is --probe fc04 here"}},
		{args: []string{"modbus", "read", "/dev/ttyUSB0", "-B"}, words: []string{"mbpoll's -B is --order ABCD here"}},
		{args: []string{"scan", "/dev/ttyUSB0", "-B"}, words: []string{"mbpoll's -B: no 32-bit value"}},
		{args: []string{"scan", "/dev/ttyUSB0", "-o", "0.5"}, json: []string{"scan", "/dev/ttyUSB0", "-o", "json", "-o", "0.5"},
			words: []string{"mbpoll's -o 0.5 is --timeout 500ms here", "output format"}},
		{args: []string{"modbus", "read", "/dev/ttyUSB0", "-o", "2"}, json: []string{"-o", "json", "modbus", "read", "/dev/ttyUSB0", "-o", "2"},
			words: []string{"mbpoll's -o 2 is --timeout 2s here"}},
		{args: []string{"scan", "/dev/ttyUSB0", "--timeout", "0.2"}, words: []string{"--timeout 0.2 has no unit: give 200ms"}},
		{args: []string{"scan", "/dev/ttyUSB0", "-d", "7"}, words: []string{"mbpoll's -d 7 is --data-bits 7 here"}},
		{args: []string{"scan", "/dev/ttyUSB0", "-s", "2"}, words: []string{"mbpoll's -s 2 is --stop-bits 2 here"}},
		{args: []string{"scan", "10.0.0.5", "-m", "tcp"}, words: []string{"mbpoll's -m tcp: TARGET says the mode", "tcp://host:502"}},
		{args: []string{"modbus", "read", "10.0.0.5", "-p", "5020"}, words: []string{"mbpoll's -p 5020 is the port in TARGET: tcp://HOST:5020 here"}},
		{args: []string{"modbus", "read", "/dev/ttyUSB0", "-0"}, words: []string{"mbpoll's -0: a register number without a leading table digit"}},
		{args: []string{"modbus", "watch", "/dev/ttyUSB0", "-1"}, words: []string{"mbpoll's -1 is --polls 1 here"}},
		{args: []string{"modbus", "read", "/dev/ttyUSB0", "-1"}, words: []string{"mbpoll's -1: ectool modbus read polls once already"}},
		{args: []string{"modbus", "watch", "/dev/ttyUSB0", "-l", "500"}, words: []string{"mbpoll's -l 500 is --every 500ms here"}},
		{args: []string{"modbus", "write", "/dev/ttyUSB0", "-r", "1", "-0", "-t", "0"}, words: []string{"mbpoll's -r 1 is --reg 00002 here"}},
	})
}

// ectool's own -h, -v and -o keep their meaning beside the habits.
func TestOwnShortFlagsKeepTheirMeaning(t *testing.T) {
	for _, args := range [][]string{
		{"mqtt", "pub", "-h"},
		{"mqtt", "sub", "-t", "x", "-h"},
		{"mqtt", "pub", "-h", "-t", "x"},
		{"mqtt", "check", "-hv"}, // help, verbose: ectool's own switches
		{"scan", "-h"},
		{"probe", "net", "-h", "example.com"}, // a probe's TARGET, not mosquitto's host
	} {
		code, out, errOut := runBinary(t, args...)
		if code != 0 || !strings.Contains(out, "Usage:") {
			t.Errorf("ectool %v: exit %d, want 0 and the help (stderr %q)", args, code, errOut)
		}
	}
	// -v is verbose, as everywhere: sub's help tells mosquitto_sub -v's users.
	code, _, errOut := runBinary(t, "mqtt", "sub", "-v", "-t", "x")
	if code != ExitUsage || !strings.Contains(errOut, "-b/--broker is required") {
		t.Errorf("mqtt sub -v -t x: exit %d, stderr %q; want the missing broker, -v taken as verbose", code, errOut)
	}
	_, out, _ := runBinary(t, "mqtt", "sub", "--help")
	if !strings.Contains(out, "mosquitto_sub") || !strings.Contains(out, "-v is verbose") {
		t.Errorf("mqtt sub --help does not tell mosquitto_sub -v's users: %s", out)
	}
	// A number for -o where no --timeout exists is the output format's error.
	code, _, errOut = runBinary(t, "version", "-o", "0.5")
	if code != ExitUsage || !strings.Contains(errOut, "-o/--output must be text or json") {
		t.Errorf("version -o 0.5: exit %d, stderr %q", code, errOut)
	}
}

func TestTyposInNestedCommandsSuggestTheCommand(t *testing.T) {
	checkWordedUsage(t, []wordedUsageCase{
		{args: []string{"mqtt", "chek"}, words: []string{`unknown command "chek" for "ectool mqtt"`, "'ectool mqtt check'"}},
		{args: []string{"mqtt", "chek", "-b", "mqtt://127.0.0.1:1"}, words: []string{`unknown command "chek"`, "'ectool mqtt check'"}},
		{args: []string{"lab", "tuor"}, words: []string{`unknown command "tuor" for "ectool lab"`, "'ectool lab tour'"}},
		{args: []string{"scan", "snif"}, words: []string{`unknown command "snif" for "ectool scan"`, "'ectool scan sniff'"}},
		{args: []string{"scan", "snif", "--duration", "5s"}, words: []string{"'ectool scan sniff'"}},
		{args: []string{"modbus", "reed", "/dev/ttyUSB0"}, words: []string{"'ectool modbus read'"}},
		{args: []string{"probe", "nte"}, words: []string{"'ectool probe net'"}},
		{args: []string{"scna", "/dev/ttyUSB0"}, words: []string{`unknown command "scna" for "ectool"`, "'ectool scan'"}},
		{args: []string{"mqtt", "publish", "-t", "x"}, words: []string{"'ectool mqtt pub'"}},
		{args: []string{"mosquitto_sub", "-t", "x"}, words: []string{"'ectool mqtt'"}},
		{args: []string{"mbpoll", "/dev/ttyUSB0"}, words: []string{"'ectool modbus'"}},
	})
}

func TestMissingTargetIsWordedWithAnExample(t *testing.T) {
	checkWordedUsage(t, []wordedUsageCase{
		{args: []string{"scan"}, words: []string{"ectool scan needs a TARGET", "rtu:///dev/ttyUSB0", "for example: ectool scan /dev/ttyUSB0"}},
		{args: []string{"scan", "sniff"}, words: []string{"ectool scan sniff needs a TARGET", "for example: ectool scan sniff"}},
		{args: []string{"modbus", "read", "--unit", "1"}, words: []string{"ectool modbus read needs a TARGET", "for example: ectool modbus read"}},
		{args: []string{"modbus", "write"}, words: []string{"ectool modbus write needs a TARGET"}},
		{args: []string{"modbus", "watch"}, words: []string{"ectool modbus watch needs a TARGET"}},
		{args: []string{"scan", "/dev/ttyUSB0", "/dev/ttyUSB1"}, words: []string{"ectool scan takes one TARGET, got 2 arguments"}},
		{args: []string{"mqtt", "pub", "-t", "x", "-m", "hello", "world"}, words: []string{`ectool mqtt pub takes no arguments, got "world"`}},
	})
}

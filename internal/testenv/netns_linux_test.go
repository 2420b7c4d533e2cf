//go:build linux

package testenv_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ecdata/ectool/internal/testenv"
)

const childEnv = "ECTOOL_TESTENV_CHILD"

// init lets the test binary serve as the unprivileged child of
// TestRunAsLeavesNoCapabilities: it opens an AF_PACKET socket and says how
// that went.
func init() {
	if os.Getenv(childEnv) != "afpacket" {
		return
	}
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, 0x0300) // htons(ETH_P_ALL)
	if err == nil {
		syscall.Close(fd)
		fmt.Println("opened")
		os.Exit(0)
	}
	fmt.Println(err.(syscall.Errno) == syscall.EPERM, err)
	os.Exit(0)
}

func TestNewNetnsHasItsOwnLoopbackAndIsRemoved(t *testing.T) {
	var name string
	t.Run("inner", func(t *testing.T) {
		name = testenv.NewNetns(t)
		out, err := testenv.InNetns(name, "ip", "-o", "link", "show", "lo").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "UP") {
			t.Fatalf("lo in %s: %v: %s", name, err, out)
		}
	})
	if name == "" {
		return
	}
	if _, err := os.Stat(filepath.Join("/run/netns", name)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("namespace %s still exists after its test: %v", name, err)
	}
}

func TestVethConnectsTwoNamespacesOverIPv4AndIPv6(t *testing.T) {
	ping := testenv.Require(t, "ping")
	a, b := testenv.NewNetns(t), testenv.NewNetns(t)
	p := testenv.Veth(t, a, b)
	for _, dst := range []string{p.AddrB.String(), p.AddrB6.String()} {
		out, err := testenv.InNetns(a, ping, "-c", "1", "-W", "5", dst).CombinedOutput()
		if err != nil {
			t.Fatalf("ping %s from %s: %v\n%s", dst, a, err, out)
		}
	}
	// Deleting and re-creating keeps names and addresses.
	if err := p.Delete(); err != nil {
		t.Fatal(err)
	}
	if err := testenv.InNetns(a, "ip", "link", "show", p.A).Run(); err == nil {
		t.Fatalf("%s still exists after Delete", p.A)
	}
	p.Recreate(t)
	if out, err := testenv.InNetns(a, ping, "-c", "1", "-W", "5", p.AddrB.String()).CombinedOutput(); err != nil {
		t.Fatalf("ping after Recreate: %v\n%s", err, out)
	}
}

func TestVethFromTheTestsOwnNamespace(t *testing.T) {
	ping := testenv.Require(t, "ping")
	b := testenv.NewNetns(t)
	p := testenv.Veth(t, "", b)
	if out, err := exec.Command(ping, "-c", "1", "-W", "5", p.AddrB.String()).CombinedOutput(); err != nil {
		t.Fatalf("ping %s: %v\n%s", p.AddrB, err, out)
	}
}

func TestRunAsLeavesNoCapabilities(t *testing.T) {
	testenv.RequireRoot(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testenv.CopyExecutable(t, self))
	cmd.Env = []string{childEnv + "=afpacket"}
	testenv.RunAs(t, cmd, testenv.Nobody)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "true ") {
		t.Fatalf("an AF_PACKET socket as uid %d: want EPERM, got %q", testenv.Nobody, out)
	}
}

func TestMosquittoInANamespaceOverVethWithTLS(t *testing.T) {
	ns := testenv.NewNetns(t)
	p := testenv.Veth(t, "", ns)
	b := testenv.StartMosquitto(t, testenv.MosquittoConfig{Netns: ns, Host: p.AddrB.String(), TLS: true})
	if want := "mqtts://" + p.AddrB.String() + ":"; !strings.HasPrefix(b.URL, want) {
		t.Fatalf("URL %q, want %s...", b.URL, want)
	}
	// The certificate names Host: verification with the CA and no
	// ServerName override succeeds.
	c, err := tls.Dial("tcp", b.Addr(), &tls.Config{RootCAs: caPool(t, b.CAFile)})
	if err != nil {
		t.Fatalf("TLS to %s: %v", b.Addr(), err)
	}
	c.Close()
	// The broker really lives in ns: nothing listens on that port here.
	out, _ := exec.Command("ss", "-Hltn", "sport = :"+strconv.Itoa(b.Port)).CombinedOutput()
	if bytes.Contains(out, []byte(strconv.Itoa(b.Port))) {
		t.Fatalf("port %d listens in the test's namespace: %s", b.Port, out)
	}
	got, err := mosquittoRoundTrip(t, b, "--cafile", b.CAFile)
	if err != nil || got != "hello" {
		t.Fatalf("round trip over the veth: %v: %q", err, got)
	}
}

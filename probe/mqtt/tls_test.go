package mqtt

import (
	"crypto/tls"
	"errors"
	"path/filepath"
	"testing"

	"github.com/ecdata/ectool/internal/certs"
)

func TestTLSOptionsFileProblemsAreNamed(t *testing.T) {
	s, err := certs.WriteSet(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "none.pem")
	cases := []struct {
		name  string
		o     TLSOptions
		field string
		is    error
	}{
		{"missing CA", TLSOptions{CAFile: missing}, "ca", nil},
		{"CA is a key", TLSOptions{CAFile: s.ClientKey}, "ca", nil},
		{"missing cert", TLSOptions{CertFile: missing, KeyFile: s.ClientKey}, "cert", nil},
		{"cert without key", TLSOptions{CertFile: s.ClientCert}, "key", nil},
		{"key without cert", TLSOptions{KeyFile: s.ClientKey}, "cert", nil},
		{"key is a cert", TLSOptions{CertFile: s.ClientCert, KeyFile: s.ClientCert}, "key", nil},
		{"key not matching", TLSOptions{CertFile: s.ClientCert, KeyFile: s.MismatchedKey}, "key", ErrKeyMismatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.o.Config("localhost")
			var fe *TLSFileError
			if !errors.As(err, &fe) || fe.Field != c.field {
				t.Fatalf("got %v, want a problem with %s", err, c.field)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Fatalf("%v is not %v", err, c.is)
			}
		})
	}
	conf, err := TLSOptions{CAFile: s.CAFile, CertFile: s.ClientCert, KeyFile: s.ClientKey, ServerName: "broker", ALPN: []string{"mqtt"}, MinVersion: tls.VersionTLS13}.Config("127.0.0.1")
	if err != nil || conf.ServerName != "broker" || conf.MinVersion != tls.VersionTLS13 || len(conf.Certificates) != 1 || conf.NextProtos[0] != "mqtt" {
		t.Fatalf("config %+v, %v", conf, err)
	}
}

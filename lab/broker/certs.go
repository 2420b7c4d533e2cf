package broker

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ecdata/ectool/internal/certs"
)

// pki is the lab's private CA, the broker's certificate and a client
// certificate for mutual TLS, generated at every start: nothing secret
// outlives the lab.
type pki struct {
	caFile, certFile, keyFile     string
	clientCertFile, clientKeyFile string
	serverCert                    tls.Certificate
	caPool                        *x509.CertPool
}

// serverNames are the names the broker certificate is valid for.
var serverNames = []string{"localhost", "ectool-lab"}

// makePKI writes into dir: ca.pem, server.pem and client.pem (0644),
// server-key.pem and client-key.pem (0600).
func makePKI(dir, site string) (*pki, error) {
	ca, err := certs.NewAuthorityFor("ectool lab CA ("+site+")", "ectool lab", 365*24*time.Hour)
	if err != nil {
		return nil, fmt.Errorf("making the lab CA: %w", err)
	}
	threeMonths := time.Now().AddDate(0, 3, 0)
	server, err := ca.Issue(certs.Spec{CommonName: "localhost", Hosts: append([]string{"127.0.0.1", "::1"}, serverNames...), NotAfter: threeMonths})
	if err != nil {
		return nil, fmt.Errorf("making the broker certificate: %w", err)
	}
	client, err := ca.Issue(certs.Spec{CommonName: "gateway-" + site, Client: true, NotAfter: threeMonths})
	if err != nil {
		return nil, fmt.Errorf("making the client certificate: %w", err)
	}

	p := &pki{
		caFile:         filepath.Join(dir, "ca.pem"),
		certFile:       filepath.Join(dir, "server.pem"),
		keyFile:        filepath.Join(dir, "server-key.pem"),
		clientCertFile: filepath.Join(dir, "client.pem"),
		clientKeyFile:  filepath.Join(dir, "client-key.pem"),
		caPool:         ca.Pool(),
	}
	chain := append(append([]byte{}, server.CertPEM...), ca.CertPEM...)
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{p.caFile, ca.CertPEM, 0o644},
		{p.certFile, chain, 0o644},
		{p.keyFile, server.KeyPEM, 0o600},
		{p.clientCertFile, client.CertPEM, 0o644},
		{p.clientKeyFile, client.KeyPEM, 0o600},
	} {
		if err := writeFile(f.path, f.data, f.mode); err != nil {
			return nil, err
		}
	}
	p.serverCert, err = tls.X509KeyPair(chain, server.KeyPEM)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// writeFile writes data with exactly mode, whatever the umask, replacing any
// file left by an earlier lab in the same directory.
func writeFile(path string, data []byte, mode os.FileMode) error {
	_ = os.Remove(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

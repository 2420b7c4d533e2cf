// Package certs generates the X.509 material ectool's tests and lab need: a
// private CA, server and client certificates signed by it, and the broken
// ones a technician meets in the field (expired, issued for another host,
// signed by a CA nobody trusts, a key that does not match its certificate).
//
// It is pure Go (crypto/x509, ECDSA P-256) and imports neither testing nor
// anything else of ectool, so production code such as `ectool lab` can use it
// as well as tests. Start with WriteSet, which writes a complete set of PEM
// files into a directory; NewAuthority and Authority.Issue make single ones.
package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Authority is a certificate authority that signs test certificates.
type Authority struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	KeyPEM  []byte
}

// NewAuthority makes a self-signed test CA valid from an hour ago for ten years.
func NewAuthority(commonName string) (*Authority, error) {
	return NewAuthorityFor(commonName, "ectool test", 10*365*24*time.Hour)
}

// NewAuthorityFor makes a self-signed CA for organization, valid from an
// hour ago for validFor. The certificates it issues carry the same
// organization.
func NewAuthorityFor(commonName, organization string, validFor time.Duration) (*Authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return newAuthority(commonName, organization, validFor, key, nil, 0)
}

// newAuthority makes a CA with key, signed by parent (nil: by itself), that
// may sign pathLen levels of CAs below it.
func newAuthority(commonName, organization string, validFor time.Duration, key crypto.Signer, parent *Authority, pathLen int) (*Authority, error) {
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{organization}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validFor),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            pathLen,
		MaxPathLenZero:        pathLen == 0,
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.Cert, parent.Key
	}
	p, err := sign(tmpl, signer, key, signerKey)
	if err != nil {
		return nil, err
	}
	return &Authority{Cert: p.Cert, Key: key, CertPEM: p.CertPEM, KeyPEM: p.KeyPEM}, nil
}

// Pool is a certificate pool holding only this CA.
func (a *Authority) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(a.Cert)
	return p
}

// Spec describes a certificate to issue.
type Spec struct {
	CommonName string
	// Hosts are DNS names or IP addresses put in the subject alternative names.
	Hosts []string
	// Client makes a client-authentication certificate (else a server one).
	Client bool
	// NotBefore and NotAfter default to an hour ago and a year from now.
	NotBefore, NotAfter time.Time
}

// Pair is an issued certificate and its private key.
type Pair struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	KeyPEM  []byte
}

// Issue signs a new certificate for s.
func (a *Authority) Issue(s Spec) (*Pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return a.issueWithKey(s, key)
}

func (a *Authority) issueWithKey(s Spec, key crypto.Signer) (*Pair, error) {
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: s.CommonName, Organization: a.Cert.Subject.Organization},
		NotBefore:    s.NotBefore,
		NotAfter:     s.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if s.Client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = now.Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = now.AddDate(1, 0, 0)
	}
	for _, h := range s.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return sign(tmpl, a.Cert, key, a.Key)
}

// sign makes the certificate tmpl for key, signed by signerKey as parent
// (tmpl and key themselves for a self-signed one), and encodes both.
func sign(tmpl, parent *x509.Certificate, key, signerKey crypto.Signer) (*Pair, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signerKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return &Pair{Cert: cert, Key: key, CertPEM: encodeCert(der), KeyPEM: keyPEM}, nil
}

// TLSCertificate is the pair as a crypto/tls certificate.
func (p *Pair) TLSCertificate() (tls.Certificate, error) {
	return tls.X509KeyPair(p.CertPEM, p.KeyPEM)
}

// Write stores the pair as <dir>/<name>.crt and <dir>/<name>.key (0600) and
// returns both paths.
func (p *Pair) Write(dir, name string) (certFile, keyFile string, err error) {
	certFile = filepath.Join(dir, name+".crt")
	keyFile = filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, p.CertPEM, 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, p.KeyPEM, 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// Set is a complete set of PEM files for TLS tests, all in Dir. File names
// are fixed (ca.crt, server.crt, ...) so a failing test's files are easy to
// find and inspect with openssl.
type Set struct {
	Dir string

	CA     *Authority
	CAFile string // ca.crt: the CA that signed the server and client certificates

	// Server certificate for the hosts given to WriteSet (server.crt/.key).
	ServerCert, ServerKey string
	// Client certificate signed by CA (client.crt/.key), CN "ectool-client".
	ClientCert, ClientKey string

	// ExpiredServerCert/Key: signed by CA for the same hosts, expired yesterday.
	ExpiredServerCert, ExpiredServerKey string
	// NotYetValidServerCert/Key: signed by CA, valid only from tomorrow.
	NotYetValidServerCert, NotYetValidServerKey string
	// WrongHostServerCert/Key: signed by CA for "wrong.example.invalid" only.
	WrongHostServerCert, WrongHostServerKey string

	// OtherCAFile is a second CA (other-ca.crt) that signed nothing the
	// broker uses: trusting only it gives "unknown authority".
	OtherCAFile string
	// UntrustedClientCert/Key: a client certificate signed by the other CA,
	// which a broker trusting CAFile rejects.
	UntrustedClientCert, UntrustedClientKey string
	// SelfSignedServerCert/Key: a server certificate signed by itself.
	SelfSignedServerCert, SelfSignedServerKey string

	// IntermediateFile (intermediate.crt) is the CA between the root and
	// the server certificate of a LongChain set ("" otherwise).
	IntermediateFile string

	// MismatchedKey is a valid private key that belongs to no certificate:
	// --cert client.crt --key mismatched.key must be refused.
	MismatchedKey string
}

// DefaultHosts are the names a loopback server certificate is valid for.
var DefaultHosts = []string{"127.0.0.1", "localhost", "::1"}

// SetOptions change what WriteSetWith generates.
type SetOptions struct {
	// Hosts are the server certificate's names (default DefaultHosts).
	Hosts []string
	// LongChain makes the server's chain as large as a public CA's: a
	// 4096-bit RSA root (CAFile) signs a 4096-bit intermediate, which signs
	// a 4096-bit server certificate; ServerCert holds the server's
	// certificate then the intermediate, so a server sends both (several
	// kilobytes: more than one full-size packet).
	LongChain bool
}

// WriteSet generates a CA and every certificate of a Set into dir. hosts are
// the server certificate's names (default DefaultHosts).
func WriteSet(dir string, hosts ...string) (*Set, error) {
	return WriteSetWith(dir, SetOptions{Hosts: hosts})
}

// WriteSetWith is WriteSet with options.
func WriteSetWith(dir string, o SetOptions) (*Set, error) {
	hosts := o.Hosts
	if len(hosts) == 0 {
		hosts = DefaultHosts
	}
	ca, err := NewAuthority("ectool test CA")
	if o.LongChain {
		ca, err = rsaAuthority("ectool test root CA", nil, 1)
	}
	if err != nil {
		return nil, err
	}
	other, err := NewAuthority("ectool untrusted CA")
	if err != nil {
		return nil, err
	}
	s := &Set{Dir: dir, CA: ca, CAFile: filepath.Join(dir, "ca.crt"), OtherCAFile: filepath.Join(dir, "other-ca.crt")}
	if err := os.WriteFile(s.CAFile, ca.CertPEM, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(s.OtherCAFile, other.CertPEM, 0o644); err != nil {
		return nil, err
	}
	now := time.Now()
	type job struct {
		by         *Authority
		spec       Spec
		name       string
		cert, keyp *string
	}
	jobs := []job{
		{ca, Spec{CommonName: hosts[0], Hosts: hosts}, "server", &s.ServerCert, &s.ServerKey},
		{ca, Spec{CommonName: "ectool-client", Client: true}, "client", &s.ClientCert, &s.ClientKey},
		{ca, Spec{CommonName: hosts[0], Hosts: hosts, NotBefore: now.AddDate(0, 0, -30), NotAfter: now.AddDate(0, 0, -1)}, "expired", &s.ExpiredServerCert, &s.ExpiredServerKey},
		{ca, Spec{CommonName: hosts[0], Hosts: hosts, NotBefore: now.AddDate(0, 0, 1), NotAfter: now.AddDate(1, 0, 0)}, "not-yet-valid", &s.NotYetValidServerCert, &s.NotYetValidServerKey},
		{ca, Spec{CommonName: "wrong.example.invalid", Hosts: []string{"wrong.example.invalid"}}, "wrong-host", &s.WrongHostServerCert, &s.WrongHostServerKey},
		{other, Spec{CommonName: "ectool-untrusted-client", Client: true}, "untrusted-client", &s.UntrustedClientCert, &s.UntrustedClientKey},
	}
	if o.LongChain {
		if err := s.longChain(ca, jobs[0].spec); err != nil {
			return nil, err
		}
		jobs = jobs[1:]
	}
	for _, j := range jobs {
		p, err := j.by.Issue(j.spec)
		if err != nil {
			return nil, fmt.Errorf("issuing %s certificate: %w", j.name, err)
		}
		if *j.cert, *j.keyp, err = p.Write(dir, j.name); err != nil {
			return nil, err
		}
	}
	self, err := SelfSigned(hosts...)
	if err != nil {
		return nil, err
	}
	if s.SelfSignedServerCert, s.SelfSignedServerKey, err = self.Write(dir, "self-signed"); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	s.MismatchedKey = filepath.Join(dir, "mismatched.key")
	if err := os.WriteFile(s.MismatchedKey, keyPEM, 0o600); err != nil {
		return nil, err
	}
	return s, nil
}

// rsaAuthority is a CA with a 4096-bit RSA key.
func rsaAuthority(commonName string, parent *Authority, pathLen int) (*Authority, error) {
	key, err := rsa.GenerateKey(rand.Reader, 4096)
	if err != nil {
		return nil, err
	}
	return newAuthority(commonName, "ectool test", 10*365*24*time.Hour, key, parent, pathLen)
}

// longChain writes the server certificate of a LongChain set: issued by an
// intermediate of root, with a 4096-bit RSA key, the intermediate after it
// in server.crt.
func (s *Set) longChain(root *Authority, spec Spec) error {
	inter, err := rsaAuthority("ectool test intermediate CA", root, 0)
	if err != nil {
		return fmt.Errorf("issuing the intermediate CA: %w", err)
	}
	s.IntermediateFile = filepath.Join(s.Dir, "intermediate.crt")
	if err := os.WriteFile(s.IntermediateFile, inter.CertPEM, 0o644); err != nil {
		return err
	}
	key, err := rsa.GenerateKey(rand.Reader, 4096)
	if err != nil {
		return err
	}
	p, err := inter.issueWithKey(spec, key)
	if err != nil {
		return fmt.Errorf("issuing the server certificate: %w", err)
	}
	if s.ServerCert, s.ServerKey, err = p.Write(s.Dir, "server"); err != nil {
		return err
	}
	chain := append(append([]byte{}, p.CertPEM...), inter.CertPEM...)
	return os.WriteFile(s.ServerCert, chain, 0o644)
}

// SelfSigned makes a server certificate that signs itself (not a CA), as
// many gateways and appliances ship.
func SelfSigned(hosts ...string) (*Pair, error) {
	if len(hosts) == 0 {
		hosts = DefaultHosts
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	// A one-off authority whose key is the leaf's own key: Issue then signs
	// the leaf with itself.
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: hosts[0], Organization: []string{"ectool test"}}}
	a := &Authority{Cert: tmpl, Key: key}
	p, err := a.issueWithKey(Spec{CommonName: hosts[0], Hosts: hosts}, key)
	if err != nil {
		return nil, err
	}
	return p, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err)
	}
	return n.Add(n, big.NewInt(1))
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

package mqtt

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrKeyMismatch is wrapped by the *TLSFileError returned when the client key
// does not belong to the client certificate.
var ErrKeyMismatch = errors.New("the private key does not match the certificate")

// TLSFileError is a TLS input file (CA bundle, client certificate or key)
// that is missing, unreadable or wrong. Field says which option it came
// from, so a command can name its flag.
type TLSFileError struct {
	Field   string // "ca", "cert" or "key"
	Path    string
	Problem string // in words: "no such file", "holds no PEM certificate", ...
	Err     error
}

func (e *TLSFileError) Error() string { return fmt.Sprintf("%s %s: %s", e.Field, e.Path, e.Problem) }
func (e *TLSFileError) Unwrap() error { return e.Err }

// Config builds the crypto/tls configuration for a broker whose host is host.
// It reads and checks every file, so a bad one is reported before any
// network I/O.
func (o TLSOptions) Config(host string) (*tls.Config, error) {
	c := &tls.Config{
		ServerName:         host,
		InsecureSkipVerify: o.Insecure, //nolint:gosec // --insecure, asked for by the user
		NextProtos:         o.ALPN,
		MinVersion:         tls.VersionTLS12,
	}
	if o.ServerName != "" {
		c.ServerName = o.ServerName
	}
	if o.MinVersion != 0 {
		c.MinVersion = o.MinVersion
	}
	if o.CAFile != "" {
		b, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, &TLSFileError{Field: "ca", Path: o.CAFile, Problem: fileProblem(err), Err: err}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, &TLSFileError{Field: "ca", Path: o.CAFile, Problem: "holds no PEM certificate (want -----BEGIN CERTIFICATE-----)"}
		}
		c.RootCAs = pool
	}
	switch {
	case o.CertFile != "" && o.KeyFile == "":
		return nil, &TLSFileError{Field: "key", Problem: "missing: a client certificate needs its private key"}
	case o.CertFile == "" && o.KeyFile != "":
		return nil, &TLSFileError{Field: "cert", Problem: "missing: a client key needs its certificate"}
	case o.CertFile != "":
		cert, err := loadKeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, err
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, &TLSFileError{Field: "cert", Path: certFile, Problem: fileProblem(err), Err: err}
	}
	if !hasPEM(cb, "CERTIFICATE") {
		return tls.Certificate{}, &TLSFileError{Field: "cert", Path: certFile, Problem: "holds no PEM certificate (want -----BEGIN CERTIFICATE-----)"}
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, &TLSFileError{Field: "key", Path: keyFile, Problem: fileProblem(err), Err: err}
	}
	if !hasPEM(kb, "PRIVATE KEY") {
		return tls.Certificate{}, &TLSFileError{Field: "key", Path: keyFile, Problem: "holds no PEM private key (want -----BEGIN ... PRIVATE KEY-----)"}
	}
	if isEncryptedKey(kb) {
		return tls.Certificate{}, &TLSFileError{Field: "key", Path: keyFile,
			Problem: "is encrypted (protected by a passphrase): ectool needs an unencrypted PEM key; make one with: openssl pkey -in " + keyFile + " -out key-plain.pem (and keep it 0600)"}
	}
	cert, err := tls.X509KeyPair(cb, kb)
	if err != nil {
		if isMismatch(err) {
			return tls.Certificate{}, &TLSFileError{Field: "key", Path: keyFile, Problem: "does not match the certificate in " + certFile, Err: ErrKeyMismatch}
		}
		return tls.Certificate{}, &TLSFileError{Field: "key", Path: keyFile, Problem: "cannot be used with " + certFile + ": " + err.Error(), Err: err}
	}
	return cert, nil
}

func isMismatch(err error) bool {
	s := err.Error()
	for _, m := range []string{"does not match", "private key type does not match", "mismatch"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

func hasPEM(b []byte, typeSuffix string) bool {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return false
		}
		if len(blk.Type) >= len(typeSuffix) && blk.Type[len(blk.Type)-len(typeSuffix):] == typeSuffix {
			return true
		}
	}
}

func fileProblem(err error) string {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "no such file"
	case errors.Is(err, os.ErrPermission):
		return "permission denied"
	}
	return err.Error()
}

// isEncryptedKey recognises a passphrase-protected PEM key: PKCS#8
// "ENCRYPTED PRIVATE KEY" or a legacy key with a Proc-Type ENCRYPTED header.
func isEncryptedKey(b []byte) bool {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return false
		}
		if strings.HasPrefix(blk.Type, "ENCRYPTED") || strings.Contains(blk.Headers["Proc-Type"], "ENCRYPTED") {
			return true
		}
	}
}

package netpath

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/ecdata/ectool/diag/report"
)

// CertSummary is one certificate of a chain, as evidence.
type CertSummary struct {
	Subject      string   `json:"subject"`
	Issuer       string   `json:"issuer"`
	NotAfter     string   `json:"not_after"`
	DaysLeft     int      `json:"days_left"`
	Names        []string `json:"names,omitempty"`
	SelfSigned   bool     `json:"self_signed,omitempty"`
	IsCA         bool     `json:"is_ca,omitempty"`
	SerialNumber string   `json:"serial,omitempty"`
	// Pin is the certificate's SPKI pin, sha256//BASE64 (curl's
	// --pinnedpubkey form, what --pin takes).
	Pin string `json:"pin"`
	// KeyBits is the size of an RSA key (0 for other key types).
	KeyBits int `json:"key_bits,omitempty"`
}

// Summarize describes cert as evidence, its days counted from now.
func Summarize(cert *x509.Certificate, now time.Time) CertSummary {
	names := append([]string{}, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		names = append(names, ip.String())
	}
	return CertSummary{
		Subject:    cert.Subject.String(),
		Issuer:     cert.Issuer.String(),
		NotAfter:   report.FormatTime(cert.NotAfter),
		DaysLeft:   DaysLeft(cert.NotAfter, now),
		Names:      names,
		SelfSigned: cert.Subject.String() == cert.Issuer.String(),
		IsCA:       cert.IsCA,
		Pin:        Pin(cert),
		KeyBits:    rsaBits(cert),
	}
}

// DaysLeft counts whole days to notAfter: positive before it, negative
// after it (-1 once a full day has passed), 0 within a day either side.
func DaysLeft(notAfter, now time.Time) int {
	return int(math.Trunc(notAfter.Sub(now).Hours() / 24))
}

// agoText is how long ago t was, in whole days ("less than a day" first).
func agoText(t, now time.Time) string {
	d := int(now.Sub(t).Hours() / 24)
	if d < 1 {
		return "less than a day ago"
	}
	return fmt.Sprintf("%d day(s) ago", d)
}

// ExpiryWarningDays: a server certificate expiring sooner is a warning.
const ExpiryWarningDays = 14

// PinPrefix starts every SPKI pin.
const PinPrefix = "sha256//"

// Pin is the SPKI pin of cert: the SHA-256 of its DER SubjectPublicKeyInfo,
// in base64, after "sha256//". It is what
// `openssl x509 -pubkey | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`
// prints, and it survives a renewal that keeps the key.
func Pin(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return PinPrefix + base64.StdEncoding.EncodeToString(sum[:])
}

// ParsePins checks pins given as sha256//BASE64, each possibly a
// ;-separated list as curl takes them, and returns them one by one. The
// error names the pin and the form wanted.
func ParsePins(in []string) ([]string, error) {
	var out []string
	for _, arg := range in {
		for _, p := range strings.Split(arg, ";") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			b64, ok := strings.CutPrefix(p, PinPrefix)
			if !ok {
				return nil, fmt.Errorf("pin %q: want sha256//BASE64 (the SHA-256 of the certificate's public key, as curl's --pinnedpubkey takes it)", p)
			}
			raw, err := base64.StdEncoding.DecodeString(b64)
			if err != nil || len(raw) != sha256.Size {
				return nil, fmt.Errorf("pin %q: after sha256// want the base64 of 32 bytes (44 characters ending in =), such as the evidence's pins show", p)
			}
			out = append(out, p)
		}
	}
	return out, nil
}

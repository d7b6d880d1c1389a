package merger

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"sync"
	"testing"
	"time"
)

// PEM block types of the private key encodings a Secret may hold.
const (
	pkcs8 = "PRIVATE KEY"
	pkcs1 = "RSA PRIVATE KEY"
	sec1  = "EC PRIVATE KEY"
)

// rsaKey is generated once per test binary: a 2048-bit key takes long enough to notice.
var rsaKey = sync.OnceValues(func() (*rsa.PrivateKey, error) {
	return rsa.GenerateKey(rand.Reader, 2048)
})

// newRSAKey returns the shared RSA key. Tests that need two different keys of one type use
// ECDSA, which is cheap.
func newRSAKey(t testing.TB) crypto.Signer {
	t.Helper()
	key, err := rsaKey()
	if err != nil {
		t.Fatalf("generate RSA key: %v", err)
	}
	return key
}

func newECDSAKey(t testing.TB) crypto.Signer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate ECDSA key: %v", err)
	}
	return key
}

func newEd25519Key(t testing.TB) crypto.Signer {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("generate Ed25519 key: %v", err)
	}
	return key
}

// issued is a certificate together with the key it certifies.
type issued struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// selfSigned returns a self-signed leaf certificate for key, valid for 90 days.
func selfSigned(t testing.TB, key crypto.Signer, name string) issued {
	t.Helper()
	tmpl := template(t, name, 90*24*time.Hour)
	return issued{cert: sign(t, tmpl, tmpl, key.Public(), key), key: key}
}

// newCA returns a self-signed CA certificate for key, valid for ten years, so that its
// NotAfter differs from that of any leaf it signs.
func newCA(t testing.TB, key crypto.Signer, name string) issued {
	t.Helper()
	tmpl := template(t, name, 10*365*24*time.Hour)
	tmpl.IsCA = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	return issued{cert: sign(t, tmpl, tmpl, key.Public(), key), key: key}
}

// leafOf returns a certificate for key signed by ca, valid for 90 days.
func leafOf(t testing.TB, ca issued, key crypto.Signer, name string) issued {
	t.Helper()
	tmpl := template(t, name, 90*24*time.Hour)
	return issued{cert: sign(t, tmpl, ca.cert, key.Public(), ca.key), key: key}
}

func template(t testing.TB, name string, lifetime time.Duration) *x509.Certificate {
	t.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatalf("generate serial number: %v", err)
	}
	now := time.Now()
	return &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		DNSNames:              []string{name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(lifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
}

// sign creates the certificate and parses it back, so that its fields are those a reader
// of the PEM sees (NotAfter, for one, loses its sub-second part).
func sign(
	t testing.TB,
	tmpl, parent *x509.Certificate,
	pub crypto.PublicKey,
	signer crypto.Signer,
) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatalf("create certificate %s: %v", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse certificate %s: %v", tmpl.Subject.CommonName, err)
	}
	return cert
}

// chainPEM encodes certs, leaf first, as a tls.crt value.
func chainPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// keyPEM encodes key as a tls.key value in the PEM block type given: pkcs8, pkcs1 (RSA
// only) or sec1 (ECDSA only).
func keyPEM(t testing.TB, key crypto.Signer, blockType string) []byte {
	t.Helper()
	var der []byte
	var err error
	switch blockType {
	case pkcs8:
		der, err = x509.MarshalPKCS8PrivateKey(key)
	case pkcs1:
		der = x509.MarshalPKCS1PrivateKey(key.(*rsa.PrivateKey))
	case sec1:
		der, err = x509.MarshalECPrivateKey(key.(*ecdsa.PrivateKey))
	default:
		t.Fatalf("unknown private key block type %q", blockType)
	}
	if err != nil {
		t.Fatalf("encode %s: %v", blockType, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der})
}

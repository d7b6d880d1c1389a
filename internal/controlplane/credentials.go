package controlplane

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
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

// adminUser is the name the admin token authenticates as.
const adminUser = "mergeflect-admin"

// certValidity is long enough for any test run or demo session.
const certValidity = 7 * 24 * time.Hour

// credentials are the files kube-apiserver needs, plus what clients need.
type credentials struct {
	caPEM      []byte
	adminToken string

	servingCertFile string
	servingKeyFile  string
	saKeyFile       string
	tokenFile       string
}

// writeCredentials generates a serving CA and certificate, a service-account
// signing key and an admin token file, and writes them into dir.
func writeCredentials(dir string) (*credentials, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create pki dir %s: %w", dir, err)
	}
	creds := &credentials{
		servingCertFile: filepath.Join(dir, "serving.crt"),
		servingKeyFile:  filepath.Join(dir, "serving.key"),
		saKeyFile:       filepath.Join(dir, "service-account.key"),
		tokenFile:       filepath.Join(dir, "tokens.csv"),
	}

	if err := creds.writeServing(dir); err != nil {
		return nil, err
	}
	if err := writeServiceAccountKey(creds.saKeyFile); err != nil {
		return nil, err
	}
	if err := creds.writeTokenFile(); err != nil {
		return nil, err
	}
	return creds, nil
}

// writeServing writes a CA and a serving certificate for the loopback names
// clients use. Only the certificate and key kube-apiserver reads are kept.
func (c *credentials) writeServing(dir string) error {
	caKey, caCert, err := newCA()
	if err != nil {
		return err
	}
	c.caPEM = pemBlock("CERTIFICATE", caCert.Raw)
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), c.caPEM, 0o600); err != nil {
		return fmt.Errorf("write serving ca: %w", err)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate serving key: %w", err)
	}
	tmpl, err := certTemplate("kube-apiserver")
	if err != nil {
		return err
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	tmpl.IPAddresses = []net.IP{net.ParseIP(loopback)}
	tmpl.DNSNames = []string{"localhost"}

	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), caKey)
	if err != nil {
		return fmt.Errorf("sign serving certificate: %w", err)
	}
	if err := os.WriteFile(c.servingCertFile, pemBlock("CERTIFICATE", der), 0o600); err != nil {
		return fmt.Errorf("write serving certificate: %w", err)
	}
	return writePrivateKey(c.servingKeyFile, key)
}

// newCA returns a self-signed CA certificate and its key.
func newCA() (crypto.Signer, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate ca key: %w", err)
	}
	tmpl, err := certTemplate("mergeflect-controlplane-ca")
	if err != nil {
		return nil, nil, err
	}
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature

	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("self-sign ca: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("parse ca: %w", err)
	}
	return key, cert, nil
}

// certTemplate returns a template with a random serial number, valid from a
// little in the past to allow for clock skew.
func certTemplate(commonName string) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generate serial for %s: %w", commonName, err)
	}
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certValidity),
	}, nil
}

// writeServiceAccountKey writes the RSA key that signs and verifies
// ServiceAccount tokens; kube-apiserver reads the public half from it too.
func writeServiceAccountKey(path string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("generate service-account key: %w", err)
	}
	return writePrivateKey(path, key)
}

// writePrivateKey writes key as a PKCS #8 PEM file readable by its owner only.
func writePrivateKey(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode private key %s: %w", path, err)
	}
	if err := os.WriteFile(path, pemBlock("PRIVATE KEY", der), 0o600); err != nil {
		return fmt.Errorf("write private key: %w", err)
	}
	return nil
}

// writeTokenFile picks a random admin token and maps it, in kube-apiserver's
// static token file format, to a user in the system:masters group.
func (c *credentials) writeTokenFile() error {
	c.adminToken = rand.Text()

	line := fmt.Sprintf("%s,%s,%s,\"system:masters\"\n", c.adminToken, adminUser, adminUser)
	if err := os.WriteFile(c.tokenFile, []byte(line), 0o600); err != nil {
		return fmt.Errorf("write token file: %w", err)
	}
	return nil
}

// pemBlock encodes der as one PEM block of the given type.
func pemBlock(blockType string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der})
}

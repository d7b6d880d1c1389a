package merger

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors returned by ValidateTLS, to be told apart with errors.Is.
var (
	ErrInvalidCertificate = errors.New("merger: invalid certificate")
	ErrInvalidKey         = errors.New("merger: invalid private key")
	ErrKeyMismatch        = errors.New("merger: private key does not match the certificate")
)

// Certificate describes the leaf of a validated certificate chain, without any secret part.
type Certificate struct {
	Subject  string
	NotAfter time.Time
}

// ValidateTLS checks that certPEM holds a chain of one or more certificates and that keyPEM
// holds the private key of the first one (RSA, ECDSA or Ed25519). Errors wrap
// ErrInvalidCertificate, ErrInvalidKey or ErrKeyMismatch and never quote the input.
func ValidateTLS(certPEM, keyPEM []byte) (Certificate, error) {
	leaf, err := parseChain(certPEM)
	if err != nil {
		return Certificate{}, err
	}

	key, err := parsePrivateKey(keyPEM)
	if err != nil {
		return Certificate{}, err
	}

	// Every public key type in crypto/* implements Equal; one that does not cannot match.
	pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) {
		return Certificate{}, ErrKeyMismatch
	}
	return Certificate{Subject: leaf.Subject.String(), NotAfter: leaf.NotAfter}, nil
}

// parseChain parses every CERTIFICATE block of data and returns the first, the leaf.
func parseChain(data []byte) (*x509.Certificate, error) {
	var leaf *x509.Certificate
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%w: PEM block %d is %q, not CERTIFICATE",
				ErrInvalidCertificate, n, block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: PEM block %d: %w", ErrInvalidCertificate, n, err)
		}
		if leaf == nil {
			leaf = cert
		}
	}

	if leaf == nil {
		return nil, fmt.Errorf("%w: no PEM certificate found", ErrInvalidCertificate)
	}
	return leaf, nil
}

// parsePrivateKey reads the first private-key PEM block of data, skipping others such as
// the EC PARAMETERS block openssl writes before an EC key, as a PKCS #8, PKCS #1 or SEC 1 key.
func parsePrivateKey(data []byte) (crypto.Signer, error) {
	var block *pem.Block
	for {
		block, data = pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("%w: no PEM private key found", ErrInvalidKey)
		}
		if strings.HasSuffix(block.Type, "PRIVATE KEY") {
			break
		}
	}

	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%w: PEM block is %q", ErrInvalidKey, block.Type)
	}
	if err != nil {
		// The parser's message names the structure, never the key material.
		return nil, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}

	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: unsupported key type %T", ErrInvalidKey, key)
	}
	return signer, nil
}

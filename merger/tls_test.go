package merger

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
)

func TestValidateTLS(t *testing.T) {
	t.Parallel()
	rsaPair := selfSigned(t, newRSAKey(t), "rsa.example.test")
	ecPair := selfSigned(t, newECDSAKey(t), "ecdsa.example.test")
	otherEC := selfSigned(t, newECDSAKey(t), "other-ecdsa.example.test")
	edPair := selfSigned(t, newEd25519Key(t), "ed25519.example.test")
	otherEd := selfSigned(t, newEd25519Key(t), "other-ed25519.example.test")
	ca := newCA(t, newECDSAKey(t), "Example CA")
	leaf := leafOf(t, ca, newECDSAKey(t), "leaf.example.test")

	tests := map[string]struct {
		cert, key []byte
		wantErr   error
		wantLeaf  *x509.Certificate
	}{
		"RSA key as PKCS #8": {
			cert: chainPEM(rsaPair.cert), key: keyPEM(t, rsaPair.key, pkcs8), wantLeaf: rsaPair.cert,
		},
		"RSA key as PKCS #1": {
			cert: chainPEM(rsaPair.cert), key: keyPEM(t, rsaPair.key, pkcs1), wantLeaf: rsaPair.cert,
		},
		"ECDSA key as PKCS #8": {
			cert: chainPEM(ecPair.cert), key: keyPEM(t, ecPair.key, pkcs8), wantLeaf: ecPair.cert,
		},
		"ECDSA key as SEC 1": {
			cert: chainPEM(ecPair.cert), key: keyPEM(t, ecPair.key, sec1), wantLeaf: ecPair.cert,
		},
		"Ed25519 key as PKCS #8": {
			cert: chainPEM(edPair.cert), key: keyPEM(t, edPair.key, pkcs8), wantLeaf: edPair.cert,
		},
		"chain of leaf and CA with the leaf's key": {
			cert: chainPEM(leaf.cert, ca.cert), key: keyPEM(t, leaf.key, sec1), wantLeaf: leaf.cert,
		},
		// openssl ecparam -genkey writes the curve's parameters before the key; crypto/tls
		// and kubectl create secret tls skip them.
		"SEC 1 key after its EC PARAMETERS block": {
			cert:     chainPEM(ecPair.cert),
			key:      append(ecParamsPEM(), keyPEM(t, ecPair.key, sec1)...),
			wantLeaf: ecPair.cert,
		},
		"text around the PEM blocks": {
			cert:     append(append([]byte("subject=CN=leaf\n"), chainPEM(leaf.cert)...), "\n\n"...),
			key:      append([]byte("Bag Attributes\n"), keyPEM(t, leaf.key, pkcs8)...),
			wantLeaf: leaf.cert,
		},

		"RSA key with an ECDSA certificate": {
			cert: chainPEM(ecPair.cert), key: keyPEM(t, rsaPair.key, pkcs1), wantErr: ErrKeyMismatch,
		},
		"ECDSA key with an Ed25519 certificate": {
			cert: chainPEM(edPair.cert), key: keyPEM(t, ecPair.key, sec1), wantErr: ErrKeyMismatch,
		},
		"Ed25519 key with an RSA certificate": {
			cert: chainPEM(rsaPair.cert), key: keyPEM(t, edPair.key, pkcs8), wantErr: ErrKeyMismatch,
		},
		"ECDSA key of another ECDSA certificate": {
			cert: chainPEM(otherEC.cert), key: keyPEM(t, ecPair.key, pkcs8), wantErr: ErrKeyMismatch,
		},
		"Ed25519 key of another Ed25519 certificate": {
			cert: chainPEM(otherEd.cert), key: keyPEM(t, edPair.key, pkcs8), wantErr: ErrKeyMismatch,
		},
		"key of the CA rather than the leaf": {
			cert: chainPEM(leaf.cert, ca.cert), key: keyPEM(t, ca.key, sec1), wantErr: ErrKeyMismatch,
		},
		"chain with the CA first": {
			cert: chainPEM(ca.cert, leaf.cert), key: keyPEM(t, leaf.key, sec1), wantErr: ErrKeyMismatch,
		},

		"certificate that is not PEM": {
			cert:    []byte("not a certificate"),
			key:     keyPEM(t, ecPair.key, sec1),
			wantErr: ErrInvalidCertificate,
		},
		"empty certificate": {
			cert: nil, key: keyPEM(t, ecPair.key, sec1), wantErr: ErrInvalidCertificate,
		},
		"CERTIFICATE block holding garbage": {
			cert:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("garbage")}),
			key:     keyPEM(t, ecPair.key, sec1),
			wantErr: ErrInvalidCertificate,
		},
		"private key block in the chain": {
			cert:    append(chainPEM(ecPair.cert), keyPEM(t, ecPair.key, pkcs8)...),
			key:     keyPEM(t, ecPair.key, pkcs8),
			wantErr: ErrInvalidCertificate,
		},
		"key in place of the certificate": {
			cert:    keyPEM(t, ecPair.key, sec1),
			key:     keyPEM(t, ecPair.key, sec1),
			wantErr: ErrInvalidCertificate,
		},

		"key that is not PEM": {
			cert: chainPEM(ecPair.cert), key: []byte("not a key"), wantErr: ErrInvalidKey,
		},
		"PRIVATE KEY block holding garbage": {
			cert:    chainPEM(ecPair.cert),
			key:     pem.EncodeToMemory(&pem.Block{Type: pkcs8, Bytes: []byte("garbage")}),
			wantErr: ErrInvalidKey,
		},
		"certificate in place of the key": {
			cert: chainPEM(ecPair.cert), key: chainPEM(ecPair.cert), wantErr: ErrInvalidKey,
		},
		"ECDSA key labelled RSA PRIVATE KEY": {
			cert:    chainPEM(ecPair.cert),
			key:     relabel(keyPEM(t, ecPair.key, sec1), pkcs1),
			wantErr: ErrInvalidKey,
		},
		"X25519 key, which cannot sign": {
			cert: chainPEM(edPair.cert), key: x25519KeyPEM(t), wantErr: ErrInvalidKey,
		},
	}

	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := ValidateTLS(tt.cert, tt.key)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ValidateTLS() error = %v, want %v", err, tt.wantErr)
				}
				assertNoInput(t, err.Error(), tt.cert, tt.key)
				return
			}
			if err != nil {
				t.Fatalf("ValidateTLS(): %v", err)
			}
			if !got.NotAfter.Equal(tt.wantLeaf.NotAfter) || got.Subject != tt.wantLeaf.Subject.String() {
				t.Errorf("ValidateTLS() = %s until %v, want %s until %v",
					got.Subject, got.NotAfter, tt.wantLeaf.Subject, tt.wantLeaf.NotAfter)
			}
		})
	}
}

// assertNoInput fails when msg quotes a line of the certificate or key it was given.
func assertNoInput(t *testing.T, msg string, inputs ...[]byte) {
	t.Helper()
	if strings.Contains(msg, "-----") {
		t.Errorf("error %q quotes a PEM armor line", msg)
	}
	for _, in := range inputs {
		for line := range bytes.Lines(in) {
			line = bytes.TrimSpace(line)
			if len(line) >= 8 && strings.Contains(msg, string(line)) {
				t.Errorf("error %q quotes its input %q", msg, line)
			}
		}
	}
}

// relabel returns the first PEM block of data under another block type.
func relabel(data []byte, blockType string) []byte {
	block, _ := pem.Decode(data)
	return pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: block.Bytes})
}

// ecParamsPEM returns the EC PARAMETERS block that names curve P-256 by its object identifier.
func ecParamsPEM() []byte {
	oid := []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: oid})
}

// x25519KeyPEM returns a PKCS #8 key that parses but is for key agreement only.
func x25519KeyPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("generate X25519 key: %v", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("encode X25519 key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pkcs8, Bytes: der})
}

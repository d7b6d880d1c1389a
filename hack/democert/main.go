// Command democert writes a throw-away self-signed certificate and its key for the demo:
//
//	go run ./hack/democert -name '*.example.test' -out DIR
//
// It writes DIR/tls.crt and DIR/tls.key. Nothing it makes should protect anything.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tazlab/mergeflect/internal/testcerts"
)

func main() {
	name := flag.String("name", "*.example.test", "the certificate's common name and DNS name")
	out := flag.String("out", ".", "directory to write tls.crt and tls.key into")
	days := flag.Int("days", 90, "days the certificate is valid for")
	flag.Parse()

	if err := write(*name, *out, time.Duration(*days)*24*time.Hour); err != nil {
		fmt.Fprintln(os.Stderr, "democert:", err)
		os.Exit(1)
	}
}

func write(name, dir string, validFor time.Duration) error {
	pair, err := testcerts.New(name, validFor)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), pair.Cert, 0o600); err != nil {
		return fmt.Errorf("write certificate: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), pair.Key, 0o600); err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	return nil
}

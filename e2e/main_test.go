// Package e2e drives the built mergeflect binary against a real kube-apiserver and etcd, as
// a user would with kubectl, and checks what a user would see: Secrets, mirrors, Events,
// metrics and log lines.
package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tazlab/mergeflect/internal/controlplane"
	"github.com/tazlab/mergeflect/internal/testdaemon"
)

// Settings of the daemon every test in this package shares.
const grace = 3 * time.Second

var (
	admin      kubernetes.Interface
	metricsURL string
	daemonLog  string
)

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	dir, err := os.MkdirTemp("", "mergeflect-e2e-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)

	cp, err := controlplane.Start(ctx, controlplane.Options{})
	if err != nil {
		return 0, err
	}
	defer func() { _ = cp.Stop() }()
	if admin, err = kubernetes.NewForConfig(cp.AdminConfig()); err != nil {
		return 0, err
	}

	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := cp.WriteKubeconfig(kubeconfig); err != nil {
		return 0, err
	}
	bin, err := testdaemon.Build(ctx, dir)
	if err != nil {
		return 0, err
	}

	daemonLog = filepath.Join(dir, "mergeflect.log")
	d, err := testdaemon.Start(bin, kubeconfig, daemonLog,
		"--mismatch-grace", grace.String(), "--conflict-retry", "2s", "--log-level", "debug")
	if err != nil {
		return 0, err
	}
	metricsURL = d.MetricsURL
	if err := d.WaitReady(ctx); err != nil {
		d.Kill()
		dumpTail(daemonLog, 30)
		return 0, err
	}
	stop := d.Stop

	code := m.Run()
	if err := stop(); err != nil {
		return 0, err
	}
	if code != 0 {
		dumpTail(daemonLog, 60)
	}
	if err := checkNoDataLeaked(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		code = 1
	}
	return code, nil
}

// leakMarkers are strings that only Secret data written by the tests contains: PEM armour
// and the plain values of the tests' Secrets.
var leakMarkers = []string{"-----BEGIN", "-----END", "s3cr3t", "from-source", "do not touch", "edited by hand"}

// checkNoDataLeaked reads everything mergeflect said, its log and its Events, and fails if
// any of it quotes Secret data.
func checkNoDataLeaked(ctx context.Context) error {
	log, err := os.ReadFile(daemonLog)
	if err != nil {
		return err
	}
	events, err := admin.CoreV1().Events("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	said := []string{string(log)}
	for _, e := range events.Items {
		said = append(said, e.Message)
	}

	for _, text := range said {
		for _, marker := range leakMarkers {
			if strings.Contains(text, marker) {
				return fmt.Errorf("mergeflect's log or Events quote Secret data (%q)", marker)
			}
		}
	}
	return nil
}

func dumpTail(path string, lines int) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	data, _ := io.ReadAll(f)
	start := len(data)
	for n := 0; n <= lines && start > 0; {
		start--
		if data[start] == '\n' {
			n++
		}
	}
	fmt.Fprintf(os.Stderr, "--- last lines of the mergeflect log ---\n%s\n", data[start:])
}

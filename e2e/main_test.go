// Package e2e drives the built mergeflect binary against a real kube-apiserver and etcd, as
// a user would with kubectl, and checks what a user would see: Secrets, mirrors, Events,
// metrics and log lines.
package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tazlab/mergeflect/internal/controlplane"
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
	bin, err := buildDaemon(ctx, dir)
	if err != nil {
		return 0, err
	}

	daemonLog = filepath.Join(dir, "mergeflect.log")
	stop, err := startDaemon(ctx, bin, kubeconfig, daemonLog)
	if err != nil {
		return 0, err
	}
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

// buildDaemon builds the mergeflect command the way a user would.
func buildDaemon(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "mergeflect")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/tazlab/mergeflect")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build mergeflect: %w", err)
	}
	return bin, nil
}

// startDaemon runs bin against kubeconfig and waits until it reports ready.
func startDaemon(ctx context.Context, bin, kubeconfig, logPath string) (func() error, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}

	metricsURL = fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[0])
	cmd := exec.Command(bin,
		"--kubeconfig", kubeconfig,
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"--health-probe-bind-address", fmt.Sprintf("127.0.0.1:%d", ports[1]),
		"--mismatch-grace", grace.String(),
		"--log-level", "debug",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start mergeflect: %w", err)
	}

	stop := func() error {
		_ = cmd.Process.Signal(os.Interrupt)
		err := cmd.Wait()
		logFile.Close()
		if err != nil {
			return fmt.Errorf("mergeflect did not exit cleanly: %w", err)
		}
		return nil
	}
	ready := fmt.Sprintf("http://127.0.0.1:%d/readyz", ports[1])
	if err := waitOK(ctx, ready); err != nil {
		_ = stop()
		dumpTail(logPath, 30)
		return nil, err
	}
	return stop, nil
}

func waitOK(ctx context.Context, url string) error {
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w", url, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
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

// Package testdaemon builds the mergeflect command and runs it as a separate process for
// integration tests, the way an operator runs it: with a kubeconfig and flags.
package testdaemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Build compiles github.com/tazlab/mergeflect into dir and returns the binary's path.
func Build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "mergeflect")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/tazlab/mergeflect")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build mergeflect: %w", err)
	}
	return bin, nil
}

// Daemon is a running mergeflect process.
type Daemon struct {
	// MetricsURL and ReadyURL are the daemon's /metrics and /readyz.
	MetricsURL string
	ReadyURL   string
	// LogPath holds everything the daemon printed.
	LogPath string

	cmd  *exec.Cmd
	log  *os.File
	done chan error
}

// Start runs bin with kubeconfig and args, logging to logPath, on free loopback ports. It
// returns without waiting for readiness; see WaitReady.
func Start(bin, kubeconfig, logPath string, args ...string) (*Daemon, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create daemon log: %w", err)
	}

	d := &Daemon{
		MetricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[0]),
		ReadyURL:   fmt.Sprintf("http://127.0.0.1:%d/readyz", ports[1]),
		LogPath:    logPath,
		log:        logFile,
		done:       make(chan error, 1),
	}
	args = append([]string{
		"--kubeconfig", kubeconfig,
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"--health-probe-bind-address", fmt.Sprintf("127.0.0.1:%d", ports[1]),
	}, args...)
	d.cmd = exec.Command(bin, args...) //nolint:noctx // the daemon lives until Stop or Kill
	d.cmd.Stdout, d.cmd.Stderr = logFile, logFile
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start mergeflect: %w", err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	return d, nil
}

// WaitReady waits until the daemon's caches have synced.
func (d *Daemon) WaitReady(ctx context.Context) error {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.ReadyURL, nil)
		if err != nil {
			return fmt.Errorf("probe readiness: %w", err)
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w", d.ReadyURL, ctx.Err())
		case err := <-d.done:
			d.done <- err
			return fmt.Errorf("mergeflect exited before it was ready: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop sends SIGTERM, as the kubelet does, and waits for a clean exit.
func (d *Daemon) Stop() error {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	return d.wait(30 * time.Second)
}

// Kill ends the daemon at once, as a node failure would.
func (d *Daemon) Kill() {
	_ = d.cmd.Process.Kill()
	_ = d.wait(10 * time.Second)
}

func (d *Daemon) wait(timeout time.Duration) error {
	defer d.log.Close()
	select {
	case err := <-d.done:
		d.done <- err
		var exit *exec.ExitError
		if errors.As(err, &exit) && !exit.Exited() {
			return fmt.Errorf("mergeflect ended by a signal: %w", err)
		}
		if err != nil {
			return fmt.Errorf("mergeflect did not exit cleanly: %w", err)
		}
		return nil
	case <-time.After(timeout):
		_ = d.cmd.Process.Kill()
		return fmt.Errorf("mergeflect did not stop within %s", timeout)
	}
}

func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		var lc net.ListenConfig
		ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Scrape returns the text the daemon serves at /metrics.
func (d *Daemon) Scrape(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.MetricsURL, nil)
	if err != nil {
		return "", fmt.Errorf("scrape %s: %w", d.MetricsURL, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("scrape %s: %w", d.MetricsURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("scrape %s: %w", d.MetricsURL, err)
	}
	return string(body), nil
}

// Metric returns the value of one series, written exactly as the exposition format writes
// it, such as `mergeflect_errors_total{reason="KeyMismatch"}`. ok is false when the daemon
// does not export it.
func (d *Daemon) Metric(ctx context.Context, series string) (value float64, ok bool, err error) {
	text, err := d.Scrape(ctx)
	if err != nil {
		return 0, false, err
	}
	for line := range strings.SplitSeq(text, "\n") {
		if v, found := strings.CutPrefix(line, series+" "); found {
			value, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, false, fmt.Errorf("parse %s: %w", series, err)
			}
			return value, true, nil
		}
	}
	return 0, false, nil
}

// PrintTail writes the last lines of the daemon's log to stderr, for a failed test run.
func (d *Daemon) PrintTail(lines int) {
	data, err := os.ReadFile(d.LogPath)
	if err != nil {
		return
	}
	start := len(data)
	for n := 0; n <= lines && start > 0; {
		start--
		if data[start] == '\n' {
			n++
		}
	}
	fmt.Fprintf(os.Stderr, "--- last lines of the mergeflect log ---\n%s\n", data[start:])
}

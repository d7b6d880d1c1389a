package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// process is a mergeflect process started as the chart's Deployment starts its container.
type process struct {
	cmd      *exec.Cmd
	logPath  string
	readyURL string
	done     chan error
}

// startLikeDeployment runs mergeflect with the arguments and environment of the rendered
// Deployment's container, as a pod in namespace would, authenticated by kubeconfig. Only the
// addresses it serves on change, to free loopback ports.
func startLikeDeployment(
	t *testing.T,
	deployment *unstructured.Unstructured,
	namespace, kubeconfig string,
) *process {
	t.Helper()
	container := mergeflectContainer(t, deployment)
	ports := freePorts(t, 2)
	// A flag given twice takes its last value.
	args := slices.Concat(container.Args, []string{
		"--kubeconfig=" + kubeconfig,
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", ports[0]),
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", ports[1]),
	})

	p := &process{
		logPath:  filepath.Join(t.TempDir(), "mergeflect.log"),
		readyURL: fmt.Sprintf("http://127.0.0.1:%d/readyz", ports[1]),
		done:     make(chan error, 1),
	}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })

	p.cmd = exec.Command(daemon, args...)
	p.cmd.Env = containerEnv(t, container, namespace)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	// The daemon dies with the test binary, should a timeout end it without cleanups.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start mergeflect: %v", err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("the end of mergeflect's log:\n%s", p.tail(t, 40))
		}
	})
	return p
}

func mergeflectContainer(t *testing.T, deployment *unstructured.Unstructured) corev1.Container {
	t.Helper()
	var d appsv1.Deployment
	err := runtime.DefaultUnstructuredConverter.FromUnstructured(deployment.Object, &d)
	if err != nil {
		t.Fatalf("read the chart's Deployment: %v", err)
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "mergeflect" {
			return c
		}
	}
	t.Fatal("the chart's Deployment has no container named mergeflect")
	return corev1.Container{}
}

func containerArgs(t *testing.T, deployment *unstructured.Unstructured) []string {
	t.Helper()
	return mergeflectContainer(t, deployment).Args
}

// containerEnv returns the container's environment as the kubelet would set it in a pod of
// namespace. It knows only plain values and the pod's namespace.
func containerEnv(t *testing.T, c corev1.Container, namespace string) []string {
	t.Helper()
	var env []string
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env = append(env, e.Name+"="+e.Value)
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			env = append(env, e.Name+"="+namespace)
		default:
			t.Fatalf("the test cannot set %s the way the chart's Deployment does", e.Name)
		}
	}
	return env
}

// waitReady waits until the daemon's caches have synced.
func (p *process) waitReady(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.readyURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("mergeflect not ready: %v\n%s", ctx.Err(), p.log(t))
		case err := <-p.done:
			p.done <- err
			t.Fatalf("mergeflect exited before it was ready: %v\n%s", err, p.log(t))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop interrupts the daemon, as Ctrl-C does, and checks that it exits cleanly.
func (p *process) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatalf("interrupt mergeflect: %v", err)
	}
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Fatalf("mergeflect did not exit cleanly: %v\n%s", err, p.log(t))
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("mergeflect still runs 30s after an interrupt\n%s", p.log(t))
	}
}

// kill ends the daemon at once, if it still runs, and waits for it.
func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	select {
	case err := <-p.done:
		p.done <- err
	case <-time.After(10 * time.Second):
	}
}

func (p *process) log(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// tail returns the last n lines of the daemon's log.
func (p *process) tail(t *testing.T, n int) string {
	t.Helper()
	lines := strings.SplitAfter(p.log(t), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "")
}

// forbidden returns the log lines that report a request the API server forbade, each as the
// text of all its fields.
func (p *process) forbidden(t *testing.T) []string {
	t.Helper()
	var found []string
	for line := range strings.Lines(p.log(t)) {
		if !strings.Contains(line, "forbidden") {
			continue
		}
		var fields map[string]any
		if err := json.Unmarshal([]byte(line), &fields); err != nil {
			found = append(found, line)
			continue
		}
		var text []string
		for _, v := range fields {
			text = append(text, fmt.Sprint(v))
		}
		found = append(found, strings.Join(text, " "))
	}
	return found
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		var lc net.ListenConfig
		ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

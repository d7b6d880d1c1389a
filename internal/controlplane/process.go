package controlplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"sync"
	"time"
)

const (
	// stopGrace is how long a process may take to exit after SIGTERM
	// before it is killed.
	stopGrace = 10 * time.Second

	// tailBytes and tailLines bound the stderr quoted in errors.
	tailBytes = 16 << 10
	tailLines = 20
)

// process is one running control-plane binary in its own process group.
type process struct {
	name string
	cmd  *exec.Cmd
	tail *tailBuffer

	done chan struct{} // closed once the process has exited and been reaped
	err  error         // the result of Wait; read only after done is closed

	reported bool // failure was already returned, so stop need not repeat it
}

// output carries the writers shared by all processes of one control plane.
type output struct {
	stdout, stderr io.Writer
}

// newOutput serialises writes to the caller's writers, which the output
// copiers of both processes use at once.
func newOutput(opts Options) output {
	var mu sync.Mutex
	out := output{}
	if opts.Stdout != nil {
		out.stdout = &lockedWriter{mu: &mu, w: opts.Stdout}
	}
	if opts.Stderr != nil {
		out.stderr = &lockedWriter{mu: &mu, w: opts.Stderr}
	}
	return out
}

// startProcess starts path with args. It deliberately takes no context: the
// process must outlive the start-up context and ends only through stop.
func startProcess(name, path string, args []string, out output) (*process, error) {
	p := &process{name: name, tail: &tailBuffer{}, done: make(chan struct{})}

	cmd := exec.Command(path, args...) //nolint:noctx // outlives the start-up context by design
	cmd.Stdout = out.stdout
	cmd.Stderr = p.tail
	if out.stderr != nil {
		cmd.Stderr = io.MultiWriter(p.tail, out.stderr)
	}
	cmd.SysProcAttr = newSysProcAttr()
	cmd.WaitDelay = time.Second

	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p.cmd = cmd

	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// failure describes a process that ended on its own, with its last words.
// Call it only after done is closed.
func (p *process) failure() error {
	p.reported = true
	err := p.err
	if err == nil {
		err = errors.New("exit status 0")
	}
	return fmt.Errorf("%s exited unexpectedly: %w\n--- last lines of %s stderr ---\n%s",
		p.name, err, p.name, p.tail.lastLines(tailLines))
}

// stop asks the process group to terminate, kills it after stopGrace, and
// waits until the process is reaped. A process that had already ended on
// its own is reported as a failure, unless that was reported before.
func (p *process) stop() error {
	if p.exited() {
		if p.reported {
			return nil
		}
		return p.failure()
	}

	// If SIGTERM cannot be sent, go straight to SIGKILL.
	termErr := terminateGroup(p.cmd.Process)
	if termErr == nil {
		timer := time.NewTimer(stopGrace)
		defer timer.Stop()
		select {
		case <-p.done:
		case <-timer.C:
		}
	}

	// Also catches members of the group that outlived the leader.
	if err := killGroup(p.cmd.Process); err != nil {
		return fmt.Errorf("stop %s: %w", p.name, errors.Join(termErr, err))
	}
	<-p.done
	return nil
}

// freePorts returns n distinct loopback ports that were free a moment ago.
// All listeners stay open until every port is chosen, so none repeats.
//
// TODO: another process may take a port between this check and the bind by
// etcd or kube-apiserver; retrying Start on "address already in use" would fix it.
func freePorts(ctx context.Context, n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		var lc net.ListenConfig
		l, err := lc.Listen(ctx, "tcp", net.JoinHostPort(loopback, "0"))
		if err != nil {
			return nil, fmt.Errorf("find free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// lockedWriter serialises writes to w under a mutex shared between writers.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

// Write writes p to the underlying writer while holding the lock.
func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p) //nolint:wrapcheck // a writer passes its writer's errors on as they are
}

// tailBuffer keeps the last tailBytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

// Write appends p, dropping the oldest bytes beyond tailBytes. It never fails.
func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()

	t.buf = append(t.buf, p...)
	if extra := len(t.buf) - tailBytes; extra > 0 {
		t.buf = append(t.buf[:0], t.buf[extra:]...)
	}
	return len(p), nil
}

// lastLines returns at most n of the last complete or partial lines.
func (t *tailBuffer) lastLines(n int) string {
	t.mu.Lock()
	defer t.mu.Unlock()

	lines := bytes.Split(bytes.TrimRight(t.buf, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

package controlplane

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeBinDir writes shell scripts named like the real binaries into a new
// directory, points MERGEFLECT_CONTROLPLANE_BIN at it and returns it.
func fakeBinDir(t *testing.T, etcdScript string) string {
	t.Helper()
	dir := t.TempDir()
	scripts := map[string]string{
		"etcd":           etcdScript,
		"kube-apiserver": "exit 1",
		"kubectl":        "exit 1",
	}
	for name, body := range scripts {
		data := []byte("#!/bin/sh\n" + body + "\n")
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o755); err != nil {
			t.Fatalf("write fake %s: %v", name, err)
		}
	}
	t.Setenv(BinDirEnv, dir)
	return dir
}

func TestBinDir(t *testing.T) {
	tests := []struct {
		name    string
		env     func(t *testing.T) string
		wantErr string
	}{{
		name:    "unset",
		env:     func(*testing.T) string { return "" },
		wantErr: BinDirEnv + " is not set",
	}, {
		name:    "missing directory",
		env:     func(t *testing.T) string { return filepath.Join(t.TempDir(), "nowhere") },
		wantErr: "no such file or directory",
	}, {
		name: "missing kubectl",
		env: func(t *testing.T) string {
			dir := fakeBinDir(t, "exit 0")
			if err := os.Remove(filepath.Join(dir, "kubectl")); err != nil {
				t.Fatal(err)
			}
			return dir
		},
		wantErr: "kubectl: no such file or directory",
	}, {
		name: "not executable",
		env: func(t *testing.T) string {
			dir := fakeBinDir(t, "exit 0")
			if err := os.Chmod(filepath.Join(dir, "etcd"), 0o644); err != nil {
				t.Fatal(err)
			}
			return dir
		},
		wantErr: "not an executable file",
	}, {
		name: "complete",
		env:  func(t *testing.T) string { return fakeBinDir(t, "exit 0") },
	}}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(BinDirEnv, tt.env(t))

			_, err := BinDir()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("BinDir() error = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrBinariesNotFound) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("BinDir() error = %v, want ErrBinariesNotFound containing %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), "make controlplane") {
				t.Errorf("BinDir() error = %v, want a hint to run make controlplane", err)
			}
		})
	}
}

func TestStartReportsEarlyExit(t *testing.T) {
	fakeBinDir(t, "echo 'etcd: bad flag --frobnicate' >&2; exit 3")

	_, err := Start(t.Context(), Options{Dir: t.TempDir()})
	if err == nil {
		t.Fatal("Start() succeeded with an etcd that exits at once")
	}
	wants := []string{"etcd exited unexpectedly", "exit status 3", "bad flag --frobnicate"}
	for _, want := range wants {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Start() error = %v, want it to contain %q", err, want)
		}
	}
}

func TestStartCleansUpWhenCancelled(t *testing.T) {
	// The fake etcd prints its PID and then never becomes healthy.
	fakeBinDir(t, "echo $$; exec sleep 60")
	var stdout bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()

	began := time.Now()
	_, err := Start(ctx, Options{Stdout: &stdout})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start() error = %v, want context.DeadlineExceeded", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("Start() took %s to give up, want it to honour the context", took)
	}

	pid, err := strconv.Atoi(strings.TrimSpace(stdout.String()))
	if err != nil {
		t.Fatalf("read fake etcd pid from %q: %v", stdout.String(), err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("fake etcd %d after failed start: kill -0 = %v, want ESRCH", pid, err)
	}
}

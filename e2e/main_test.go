// Package e2e drives the built mergeflect binary against a real kube-apiserver and etcd, as
// a user would with kubectl, and checks what a user would see: Secrets, mirrors, Events,
// metrics and log lines.
package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/tazlab/mergeflect/internal/kubetest"
	"github.com/tazlab/mergeflect/internal/testdaemon"
	"github.com/tazlab/mergeflect/internal/testenv"
)

// Settings of the daemon every test in this package shares.
const grace = 3 * time.Second

var (
	admin     kubernetes.Interface
	daemon    *testdaemon.Daemon
	daemonLog string
)

func TestMain(m *testing.M) {
	testenv.Main("e2e", func(ctx context.Context, env *testenv.Env) (int, error) {
		admin = env.Admin
		return run(ctx, m, env)
	})
}

// run starts the daemon every test shares, runs the tests, and reads everything the daemon
// said for Secret data.
func run(ctx context.Context, m *testing.M, env *testenv.Env) (int, error) {
	daemonLog = filepath.Join(env.Dir, "mergeflect.log")
	d, err := testdaemon.Start(env.Bin, env.Kubeconfig, daemonLog,
		"--mismatch-grace", grace.String(), "--conflict-retry", "2s", "--log-level", "debug")
	if err != nil {
		return 0, err
	}
	daemon = d
	if err := d.WaitReady(ctx); err != nil {
		d.Kill()
		d.PrintTail(30)
		return 0, err
	}
	stop := d.Stop

	code := m.Run()
	if err := stop(); err != nil {
		return 0, err
	}
	if code != 0 {
		d.PrintTail(60)
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
	return kubetest.NothingQuoted(ctx, admin, daemonLog, leakMarkers)
}

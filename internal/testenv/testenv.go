// Package testenv sets up what every end-to-end test package of mergeflect needs: a real
// control plane of its own, an admin client, the kubeconfig a user would hold, and the
// mergeflect binary built the way a user builds it.
package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/tazlab/mergeflect/internal/controlplane"
	"github.com/tazlab/mergeflect/internal/testdaemon"
)

// Env is a running control plane and what a test needs to drive it.
type Env struct {
	ControlPlane *controlplane.ControlPlane
	Admin        kubernetes.Interface
	// Dir is a scratch directory, removed when the tests end.
	Dir string
	// Kubeconfig is an admin kubeconfig in Dir.
	Kubeconfig string
	// Bin is the mergeflect binary, built in Dir.
	Bin string
}

// Main sets up an Env, runs tests with it (typically m.Run), tears it down and exits with
// the code tests returned, or 1 if set-up failed. name prefixes its messages.
func Main(name string, tests func(ctx context.Context, env *Env) (int, error)) {
	code, err := run(tests)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(tests func(ctx context.Context, env *Env) (int, error)) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	dir, err := os.MkdirTemp("", "mergeflect-e2e-")
	if err != nil {
		return 0, fmt.Errorf("create scratch directory: %w", err)
	}
	defer os.RemoveAll(dir)

	cp, err := controlplane.Start(ctx, controlplane.Options{})
	if err != nil {
		return 0, err
	}
	defer func() { _ = cp.Stop() }()

	env := &Env{ControlPlane: cp, Dir: dir, Kubeconfig: filepath.Join(dir, "kubeconfig")}
	if env.Admin, err = kubernetes.NewForConfig(cp.AdminConfig()); err != nil {
		return 0, fmt.Errorf("create admin client: %w", err)
	}
	if err := cp.WriteKubeconfig(env.Kubeconfig); err != nil {
		return 0, err
	}
	if env.Bin, err = testdaemon.Build(ctx, dir); err != nil {
		return 0, err
	}
	return tests(ctx, env)
}

// Package deploy checks mergeflect's deployment files against a real kube-apiserver and etcd
// of its own: every object the Helm chart and the kustomize base render passes a server-side
// dry run, and the daemon, run with nothing but the chart's RBAC, does its work, and fails as
// predicted once a rule is taken away. helm comes from $MERGEFLECT_HELM, else from the cache
// that `make test-deploy` builds it into.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"

	"github.com/tazlab/mergeflect/internal/controlplane"
	"github.com/tazlab/mergeflect/internal/testenv"
)

// helmEnv names the helm binary; deploy.mk sets it.
const helmEnv = "MERGEFLECT_HELM"

// Paths of the deployment files, relative to this package.
const (
	chartDir      = "../../deploy/helm/mergeflect"
	fullValues    = chartDir + "/ci/full-values.yaml"
	kustomizeBase = "../../deploy/kustomize/base"
)

var (
	cp      *controlplane.ControlPlane
	admin   kubernetes.Interface
	dyn     dynamic.Interface
	mapper  meta.ResettableRESTMapper
	helm    string
	kubectl string
	daemon  string
	workDir string
)

func TestMain(m *testing.M) {
	testenv.Main("e2e/deploy", func(_ context.Context, env *testenv.Env) (int, error) {
		var err error
		if helm, err = findHelm(); err != nil {
			return 0, err
		}
		bin, err := controlplane.BinDir()
		if err != nil {
			return 0, err
		}
		kubectl = filepath.Join(bin, "kubectl")
		cp, admin, daemon, workDir = env.ControlPlane, env.Admin, env.Bin, env.Dir
		if err := connect(); err != nil {
			return 0, err
		}
		return m.Run(), nil
	})
}

// connect makes the admin clients, and a mapper from kinds to resources that rereads
// discovery when it meets a kind it does not know.
func connect() error {
	var err error
	if dyn, err = dynamic.NewForConfig(cp.AdminConfig()); err != nil {
		return err
	}
	mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(admin.Discovery()))
	return nil
}

// findHelm returns helm's path: $MERGEFLECT_HELM, else where deploy.mk caches it by default.
// The tests never skip for want of it.
func findHelm() (string, error) {
	path := os.Getenv(helmEnv)
	if path == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find helm: %s is not set and %w", helmEnv, err)
		}
		path = filepath.Join(home, ".cache", "mergeflect", "tools", "helm")
	}
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("no helm at %s: run `make test-deploy`, which builds it, "+
				"or set %s to a helm binary", path, helmEnv)
		}
		return "", fmt.Errorf("find helm: %w", err)
	}
	return path, nil
}

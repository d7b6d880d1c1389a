// Package controlplane runs a real, throw-away Kubernetes control plane (one
// etcd member and one kube-apiserver, both on loopback addresses) for
// integration tests and the demo. It generates its own serving certificates,
// an admin bearer token in the system:masters group and a service-account
// signing key, enforces RBAC, and runs no controllers: nothing reconciles,
// so namespaces, for instance, never finish terminating. The binaries come
// from the directory named by MERGEFLECT_CONTROLPLANE_BIN; processes run in
// their own process group so that Stop, or the death of the parent, leaves
// nothing behind. It works on Unix systems only.
package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// loopback is the only address the control plane listens on or advertises.
const loopback = "127.0.0.1"

// kubeconfigName names the cluster, user and context in written kubeconfigs.
const kubeconfigName = "mergeflect-controlplane"

// Options configures Start.
type Options struct {
	// Dir holds the certificates, keys and etcd data. When empty, Start
	// creates a temporary directory and Stop removes it. A given Dir is kept
	// after Stop, but its state from an earlier run is wiped by Start.
	Dir string

	// Stdout and Stderr receive the output of etcd and kube-apiserver.
	// Output is discarded when they are nil.
	Stdout, Stderr io.Writer
}

// ControlPlane is a running etcd and kube-apiserver pair. Its methods are safe
// for concurrent use.
type ControlPlane struct {
	host       string
	caPEM      []byte
	adminToken string

	dir     string
	ownsDir bool

	etcd      *process
	apiserver *process

	stopOnce sync.Once
	stopErr  error
}

// Start launches etcd and kube-apiserver and returns once the API server
// reports ready on /readyz. The context bounds the start-up only; the
// processes run until Stop. On failure every process already started is
// stopped and the error carries the end of the failed process's stderr.
func Start(ctx context.Context, opts Options) (*ControlPlane, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, fmt.Errorf("start control plane: %w", err)
	}

	c := &ControlPlane{}
	if err := c.prepareDir(opts.Dir); err != nil {
		return nil, fmt.Errorf("start control plane: %w", err)
	}

	// Stop also removes a temporary directory, so it cleans up any partial start.
	if err := c.start(ctx, bin, opts); err != nil {
		return nil, errors.Join(fmt.Errorf("start control plane: %w", err), c.Stop())
	}
	return c, nil
}

// start generates credentials, then brings up etcd and the API server in turn.
func (c *ControlPlane) start(ctx context.Context, bin string, opts Options) error {
	ports, err := freePorts(ctx, 3)
	if err != nil {
		return err
	}
	etcdClient, etcdPeer, apiPort := ports[0], ports[1], ports[2]

	creds, err := writeCredentials(filepath.Join(c.dir, "pki"))
	if err != nil {
		return err
	}
	c.host = "https://" + net.JoinHostPort(loopback, strconv.Itoa(apiPort))
	c.caPEM = creds.caPEM
	c.adminToken = creds.adminToken

	out := newOutput(opts)
	etcdURL, err := c.startEtcd(ctx, bin, etcdClient, etcdPeer, out)
	if err != nil {
		return err
	}
	return c.startAPIServer(ctx, bin, etcdURL, apiPort, creds, out)
}

// prepareDir creates the work directory, or clears state left in a given one
// by an earlier run: etcd would otherwise refuse to reuse a cluster that was
// bootstrapped with other ports.
func (c *ControlPlane) prepareDir(dir string) error {
	if dir == "" {
		tmp, err := os.MkdirTemp("", "mergeflect-controlplane-")
		if err != nil {
			return fmt.Errorf("create work dir: %w", err)
		}
		c.dir, c.ownsDir = tmp, true
		return nil
	}

	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("resolve work dir %s: %w", dir, err)
	}
	for _, stale := range []string{"pki", "etcd"} {
		if err := os.RemoveAll(filepath.Join(abs, stale)); err != nil {
			return fmt.Errorf("clear work dir %s: %w", abs, err)
		}
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return fmt.Errorf("create work dir %s: %w", abs, err)
	}
	c.dir = abs
	return nil
}

// Stop terminates kube-apiserver and then etcd, waits for both, and removes
// the work directory if Start created it. It is safe to call more than once;
// later calls return the first result. It reports a process that had already
// died on its own, with the end of its stderr.
func (c *ControlPlane) Stop() error {
	c.stopOnce.Do(func() {
		var errs []error

		// The API server goes first so that it never sees its storage vanish.
		for _, p := range []*process{c.apiserver, c.etcd} {
			if p != nil {
				errs = append(errs, p.stop())
			}
		}

		if c.ownsDir {
			if err := os.RemoveAll(c.dir); err != nil {
				errs = append(errs, fmt.Errorf("remove work dir %s: %w", c.dir, err))
			}
		}
		c.stopErr = errors.Join(errs...)
	})
	return c.stopErr
}

// Host returns the API server URL, https://127.0.0.1:PORT.
func (c *ControlPlane) Host() string {
	return c.host
}

// CAData returns a copy of the PEM-encoded CA that signed the serving
// certificate.
func (c *ControlPlane) CAData() []byte {
	return slices.Clone(c.caPEM)
}

// AdminConfig returns a new client configuration for a user in the
// system:masters group, which RBAC lets do anything. Client-side rate
// limiting is off.
func (c *ControlPlane) AdminConfig() *rest.Config {
	return c.ConfigFor(c.adminToken)
}

// ConfigFor returns a new client configuration that authenticates with the
// given bearer token, such as a ServiceAccount token from the TokenRequest API.
// Client-side rate limiting is off.
func (c *ControlPlane) ConfigFor(token string) *rest.Config {
	return &rest.Config{
		Host:            c.host,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.CAData()},
		QPS:             -1,
	}
}

// WriteKubeconfig writes an admin kubeconfig, usable by kubectl, to path with
// mode 0600. Its only context is the current one.
func (c *ControlPlane) WriteKubeconfig(path string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[kubeconfigName] = &clientcmdapi.Cluster{
		Server:                   c.host,
		CertificateAuthorityData: c.CAData(),
	}
	cfg.AuthInfos[kubeconfigName] = &clientcmdapi.AuthInfo{Token: c.adminToken}
	cfg.Contexts[kubeconfigName] = &clientcmdapi.Context{
		Cluster:  kubeconfigName,
		AuthInfo: kubeconfigName,
	}
	cfg.CurrentContext = kubeconfigName

	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

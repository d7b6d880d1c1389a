// Package vault drives mergeflect against a real Vault server and a real kube-apiserver:
// Vault's Kubernetes auth method reviews the ServiceAccount tokens mergeflect logs in with
// against the same API server, so that each namespace reads only what its role allows.
package vault

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	"k8s.io/client-go/kubernetes"

	"github.com/tazlab/mergeflect/internal/controlplane"
	"github.com/tazlab/mergeflect/internal/kubetest"
	"github.com/tazlab/mergeflect/internal/testdaemon"
	"github.com/tazlab/mergeflect/internal/testenv"
)

const rootToken = "root-token-for-tests"

var (
	admin  kubernetes.Interface
	cp     *controlplane.ControlPlane
	vs     *vaultServer
	daemon *testdaemon.Daemon
)

func TestMain(m *testing.M) {
	testenv.Main("e2e/vault", func(ctx context.Context, env *testenv.Env) (int, error) {
		admin, cp = env.Admin, env.ControlPlane
		return run(ctx, m, env)
	})
}

// run starts Vault and the daemon, runs the tests, and reads everything the daemon said for
// credentials.
func run(ctx context.Context, m *testing.M, env *testenv.Env) (int, error) {
	var err error
	if vs, err = startVault(ctx, env.Dir, 0); err != nil {
		return 0, err
	}
	defer vs.stop()
	if err := vs.configure(ctx); err != nil {
		return 0, err
	}

	daemon, err = testdaemon.Start(env.Bin, env.Kubeconfig, filepath.Join(env.Dir, "mergeflect.log"),
		"--vault-address", vs.address, "--vault-default-service-account", serviceAccount,
		"--workers", "8", "--mismatch-grace", "3s", "--log-level", "debug")
	if err != nil {
		return 0, err
	}
	if err := daemon.WaitReady(ctx); err != nil {
		daemon.Kill()
		return 0, err
	}

	code := m.Run()
	if err := daemon.Stop(); err != nil {
		return 0, err
	}
	if err := checkNoTokenLeaked(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "vault e2e:", err)
		code = 1
	}
	if code != 0 {
		daemon.PrintTail(60)
	}
	return code, nil
}

// vaultServer is a Vault dev server: in memory, unsealed, KV version 2 at secret/.
type vaultServer struct {
	address string
	port    int
	cmd     *exec.Cmd
	done    chan error
	root    *vaultapi.Client
}

// startVault starts Vault on port, or on a free port when it is 0.
func startVault(ctx context.Context, dir string, port int) (*vaultServer, error) {
	bin := filepath.Join(os.Getenv("MERGEFLECT_VAULT_BIN"), "vault")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("no vault server at %s: run make vault (or make test): %w", bin, err)
	}
	if port == 0 {
		var err error
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}

	v := &vaultServer{port: port, address: fmt.Sprintf("http://127.0.0.1:%d", port), done: make(chan error, 1)}
	v.cmd = exec.Command(bin, "server", "-dev", "-dev-root-token-id="+rootToken,
		fmt.Sprintf("-dev-listen-address=127.0.0.1:%d", port))
	// Vault 1.13 panics at start under Go 1.26's stricter certificate parsing without this.
	v.cmd.Env = append(os.Environ(), "GODEBUG=x509negativeserial=1", "VAULT_DEV_ROOT_TOKEN_ID="+rootToken)
	logFile, err := os.Create(filepath.Join(dir, fmt.Sprintf("vault-%d.log", time.Now().UnixNano())))
	if err != nil {
		return nil, err
	}
	v.cmd.Stdout, v.cmd.Stderr = logFile, logFile
	v.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := v.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start vault: %w", err)
	}
	go func() { v.done <- v.cmd.Wait(); logFile.Close() }()

	cfg := vaultapi.DefaultConfig()
	cfg.Address = v.address
	if v.root, err = vaultapi.NewClient(cfg); err != nil {
		v.stop()
		return nil, err
	}
	v.root.SetToken(rootToken)
	if err := v.waitReady(ctx); err != nil {
		v.stop()
		return nil, err
	}
	return v, nil
}

func (v *vaultServer) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(v.address + "/v1/sys/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-v.done:
			return fmt.Errorf("vault exited at start: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("vault was not ready within 30s")
}

// stop kills Vault and waits for it; a dev server's data goes with it.
func (v *vaultServer) stop() {
	_ = syscall.Kill(-v.cmd.Process.Pid, syscall.SIGKILL)
	err := <-v.done
	v.done <- err // for a later stop
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// tokenMarkers begin every Vault service token and every ServiceAccount JWT, and the root
// token is the test's own.
var tokenMarkers = []string{"hvs.", "eyJhbGci", rootToken}

// checkNoTokenLeaked fails if the daemon's log or its Events quote a credential.
func checkNoTokenLeaked(ctx context.Context) error {
	return kubetest.NothingQuoted(ctx, admin, daemon.LogPath, tokenMarkers)
}

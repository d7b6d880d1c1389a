package controlplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/client-go/rest"
)

const (
	// readyTimeout bounds the wait for each component to become ready.
	readyTimeout = 60 * time.Second

	// pollInterval and probeTimeout pace the readiness probes.
	pollInterval = 100 * time.Millisecond
	probeTimeout = 2 * time.Second

	// serviceAccountIssuer is the iss claim of ServiceAccount tokens.
	serviceAccountIssuer = "https://kubernetes.default.svc"

	// serviceClusterIPRange is required by kube-apiserver though no Service
	// traffic is ever routed.
	serviceClusterIPRange = "10.0.0.0/24"
)

// startEtcd runs a single-member etcd cluster and returns its client URL once
// it reports healthy.
func (c *ControlPlane) startEtcd(
	ctx context.Context,
	bin string,
	clientPort, peerPort int,
	out output,
) (string, error) {
	clientURL := "http://" + net.JoinHostPort(loopback, strconv.Itoa(clientPort))
	peerURL := "http://" + net.JoinHostPort(loopback, strconv.Itoa(peerPort))
	args := []string{
		"--name=controlplane",
		"--data-dir=" + filepath.Join(c.dir, "etcd"),
		"--listen-client-urls=" + clientURL,
		"--advertise-client-urls=" + clientURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=controlplane=" + peerURL,
		"--initial-cluster-state=new",
		// The data is thrown away, so durability buys nothing but slowness.
		"--unsafe-no-fsync",
	}

	p, err := startProcess("etcd", filepath.Join(bin, "etcd"), args, out)
	if err != nil {
		return "", err
	}
	c.etcd = p

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	if err := waitReady(ctx, p, client, clientURL+"/health"); err != nil {
		return "", err
	}
	return clientURL, nil
}

// startAPIServer runs kube-apiserver against etcdURL and waits until its
// /readyz passes, which includes the creation of the bootstrap RBAC roles.
func (c *ControlPlane) startAPIServer(
	ctx context.Context,
	bin, etcdURL string,
	port int,
	creds *credentials,
	out output,
) error {
	args := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=" + loopback,
		"--advertise-address=" + loopback,
		"--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + creds.servingCertFile,
		"--tls-private-key-file=" + creds.servingKeyFile,
		"--cert-dir=" + filepath.Join(c.dir, "pki", "generated"),
		"--token-auth-file=" + creds.tokenFile,
		"--authorization-mode=RBAC",
		"--service-account-key-file=" + creds.saKeyFile,
		"--service-account-signing-key-file=" + creds.saKeyFile,
		"--service-account-issuer=" + serviceAccountIssuer,
		"--service-cluster-ip-range=" + serviceClusterIPRange,
		// Endpoints may not hold a loopback address, so the reconciler for
		// the kubernetes Service would only log errors.
		"--endpoint-reconciler-type=none",
	}

	p, err := startProcess("kube-apiserver", filepath.Join(bin, "kube-apiserver"), args, out)
	if err != nil {
		return err
	}
	c.apiserver = p

	client, err := rest.HTTPClientFor(c.AdminConfig())
	if err != nil {
		return fmt.Errorf("build kube-apiserver probe client: %w", err)
	}
	defer client.CloseIdleConnections()
	return waitReady(ctx, p, client, c.host+"/readyz")
}

// waitReady polls url until it answers 200 OK. It gives up when the process
// exits, readyTimeout passes or ctx ends, and then says why.
func waitReady(ctx context.Context, p *process, client *http.Client, url string) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()

	for {
		probeErr := probe(ctx, client, url)
		if probeErr == nil {
			return nil
		}

		select {
		case <-p.done:
			return p.failure()
		case <-ctx.Done():
			return fmt.Errorf("wait for %s to become ready: %w\n--- last lines of %s stderr ---\n%s",
				p.name, errors.Join(ctx.Err(), probeErr), p.name, p.tail.lastLines(tailLines))
		case <-ticker.C:
		}
	}
}

// probe sends one GET to url and expects 200 OK.
func probe(ctx context.Context, client *http.Client, url string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("probe %s: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("probe %s: %w", url, err)
	}
	defer resp.Body.Close()

	// The body of a failed /readyz names the checks that are not passing yet.
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe %s: %s: %s", url, resp.Status, bytes.TrimSpace(body))
	}
	return nil
}

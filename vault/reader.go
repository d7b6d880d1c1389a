// Package vault reads the values of Vault-backed source Secrets. Each read authenticates as
// the source's namespace: with Vault's Kubernetes auth method and a short-lived token of a
// ServiceAccount in that namespace, so that Vault's own policies decide what each namespace
// may read. Tokens are cached per identity and renewed by a lifetime watcher; no lock is
// held across a network call, so sources that share an identity never wait on each other
// for more than the one login they share.
package vault

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
	"k8s.io/client-go/kubernetes"
)

// Config holds the daemon-wide Vault settings.
type Config struct {
	Address       string
	CACert        string
	TLSServerName string
	Namespace     string
	Timeout       time.Duration
	RateLimit     float64

	// AuthMount is the path of the Kubernetes auth method, such as kubernetes.
	AuthMount string
	// DefaultRole and DefaultServiceAccount apply to sources that name neither.
	DefaultRole           string
	DefaultServiceAccount string
	// Audience is requested for ServiceAccount tokens; empty asks for the API server's.
	Audience string
	// TokenNamespaces may use the daemon's own token ($VAULT_TOKEN) instead of logging in.
	TokenNamespaces []string
}

// Identity is who a read authenticates as.
type Identity struct {
	Namespace      string
	ServiceAccount string
	Role           string
	// Daemon is set when the read uses the daemon's own token.
	Daemon bool
}

// Reader reads Vault secrets on behalf of source namespaces.
type Reader struct {
	cfg         Config
	base        *vaultapi.Client
	daemonToken string
	kube        kubernetes.Interface
	requests    *prometheus.CounterVec
	log         zerolog.Logger

	mu       sync.Mutex
	sessions map[Identity]*session
	mounts   map[string]mount
}

// NewReader returns a Reader for cfg. requests counts Vault requests by operation and result.
func NewReader(
	cfg Config,
	kube kubernetes.Interface,
	requests *prometheus.CounterVec,
	log zerolog.Logger,
) (*Reader, error) {
	vc := vaultapi.DefaultConfig()
	if cfg.Address != "" {
		vc.Address = cfg.Address
	}
	vc.Timeout = cfg.Timeout
	vc.MaxRetries = 1
	if cfg.RateLimit > 0 {
		vc.Limiter = rate.NewLimiter(rate.Limit(cfg.RateLimit), max(int(cfg.RateLimit), 1))
	}
	if cfg.CACert != "" || cfg.TLSServerName != "" {
		if err := vc.ConfigureTLS(&vaultapi.TLSConfig{CACert: cfg.CACert, TLSServerName: cfg.TLSServerName}); err != nil {
			return nil, fmt.Errorf("configure vault tls: %w", err)
		}
	}
	if vc.Error != nil {
		return nil, fmt.Errorf("configure vault client: %w", vc.Error)
	}

	base, err := vaultapi.NewClient(vc)
	if err != nil {
		return nil, fmt.Errorf("create vault client: %w", err)
	}
	// The daemon's own token is kept apart so that no read uses it by accident.
	base.ClearToken()

	return &Reader{
		cfg:         cfg,
		base:        base,
		daemonToken: os.Getenv(vaultapi.EnvVaultToken),
		kube:        kube,
		requests:    requests,
		log:         log,
		sessions:    map[Identity]*session{},
		mounts:      map[string]mount{},
	}, nil
}

// IdentityFor returns who a source in namespace authenticates as, from the ServiceAccount
// and role it names, or the defaults.
func (r *Reader) IdentityFor(namespace, serviceAccount, role string) Identity {
	if slices.Contains(r.cfg.TokenNamespaces, namespace) {
		return Identity{Namespace: namespace, Daemon: true}
	}
	return Identity{
		Namespace:      namespace,
		ServiceAccount: cmp.Or(serviceAccount, r.cfg.DefaultServiceAccount),
		Role:           cmp.Or(role, r.cfg.DefaultRole),
	}
}

// Value is one value read from Vault.
type Value struct {
	Data []byte
	// Version is the KV version 2 version number, or empty for KV version 1.
	Version string
}

// Read reads every ref as id. It returns all values or an error: never some of them.
func (r *Reader) Read(ctx context.Context, id Identity, refs []Ref) (map[string]Value, error) {
	values, err := r.readAll(ctx, id, refs)
	if !errors.Is(err, ErrDenied) || id.Daemon {
		return values, err
	}

	// A token Vault refuses may have been revoked: log in again once before giving up.
	r.forget(id, nil)
	return r.readAll(ctx, id, refs)
}

func (r *Reader) readAll(ctx context.Context, id Identity, refs []Ref) (map[string]Value, error) {
	client, err := r.client(ctx, id)
	if err != nil {
		return nil, err
	}
	values := map[string]Value{}
	for _, ref := range refs {
		v, err := r.readOne(ctx, client, ref)
		r.requests.WithLabelValues("read", resultOf(err)).Inc()
		if err != nil {
			return nil, fmt.Errorf("read %s#%s: %w", ref.Path, ref.Field, err)
		}
		values[ref.Key] = v
	}
	return values, nil
}

// readOne reads one field from a KV version 1 or 2 secret.
func (r *Reader) readOne(ctx context.Context, client *vaultapi.Client, ref Ref) (Value, error) {
	m, err := r.mountOf(ctx, client, ref.Path)
	if err != nil {
		return Value{}, err
	}
	rel := strings.TrimPrefix(ref.Path, m.path)
	if m.version == 2 {
		// Policies and the HTTP API spell KV version 2 paths with data/; accept both forms.
		rel = strings.TrimPrefix(rel, "data/")
	}

	var secret *vaultapi.KVSecret
	if mountPath := strings.TrimSuffix(m.path, "/"); m.version == 2 {
		secret, err = client.KVv2(mountPath).Get(ctx, rel)
	} else {
		secret, err = client.KVv1(mountPath).Get(ctx, rel)
	}
	if err != nil {
		return Value{}, classify(err)
	}

	data, err := fieldOf(secret.Data, ref.Field)
	if err != nil {
		return Value{}, err
	}
	v := Value{Data: data}
	if secret.VersionMetadata != nil {
		v.Version = fmt.Sprint(secret.VersionMetadata.Version)
	}
	return v, nil
}

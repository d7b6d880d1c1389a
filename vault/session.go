package vault

import (
	"context"
	"fmt"

	vaultapi "github.com/hashicorp/vault/api"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// tokenLifetime is how long the ServiceAccount tokens used to log in live. Vault reads one
// once, at login.
const tokenLifetime = 10 * 60

// session is the Vault client of one identity. ready is closed once the login that fills
// client or err has ended; every caller waiting for the identity shares that one login.
type session struct {
	ready  chan struct{}
	client *vaultapi.Client
	err    error
	stop   context.CancelFunc
}

// client returns a logged-in client for id, logging in if no session is cached. The lock
// guards only the map: the login itself runs unlocked, and callers wait on its channel.
func (r *Reader) client(ctx context.Context, id Identity) (*vaultapi.Client, error) {
	r.mu.Lock()
	s, ok := r.sessions[id]
	if !ok {
		s = &session{ready: make(chan struct{})}
		r.sessions[id] = s
	}
	r.mu.Unlock()

	if !ok {
		s.client, s.err = r.login(ctx, id, s)
		if s.err != nil {
			// A failed login is shared by those waiting for it, then forgotten.
			r.forget(id, s)
		}
		close(s.ready)
	}

	select {
	case <-s.ready:
		return s.client, s.err
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for vault login: %w", ctx.Err())
	}
}

// forget drops the cached session of id, if it is still s (any session when s is nil), and
// stops its renewal. The next read logs in again.
func (r *Reader) forget(id Identity, s *session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	current, ok := r.sessions[id]
	if !ok || (s != nil && current != s) {
		return
	}
	delete(r.sessions, id)
	if current.stop != nil {
		current.stop()
	}
}

// login authenticates id and starts renewing the token it gets.
func (r *Reader) login(ctx context.Context, id Identity, s *session) (*vaultapi.Client, error) {
	client, err := r.base.Clone()
	if err != nil {
		return nil, fmt.Errorf("clone vault client: %w", err)
	}
	if r.cfg.Namespace != "" {
		client.SetNamespace(r.cfg.Namespace)
	}
	if id.Daemon {
		if r.daemonToken == "" {
			return nil, fmt.Errorf("%w: namespace %s may use the daemon's token, but none is set",
				ErrDenied, id.Namespace)
		}
		client.SetToken(r.daemonToken)
		return client, nil
	}

	jwt, err := r.serviceAccountToken(ctx, id)
	if err != nil {
		return nil, err
	}
	secret, err := client.Logical().WriteWithContext(ctx, "auth/"+r.cfg.AuthMount+"/login",
		map[string]any{"role": id.Role, "jwt": jwt})
	r.requests.WithLabelValues("login", resultOf(classify(err))).Inc()
	if err != nil {
		return nil, fmt.Errorf("log in to vault as %s: %w", id, classify(err))
	}
	if secret == nil || secret.Auth == nil || secret.Auth.ClientToken == "" {
		return nil, fmt.Errorf("log in to vault as %s: no token in the answer", id)
	}
	client.SetToken(secret.Auth.ClientToken)

	r.renew(client, id, s, secret)
	r.log.Debug().Str("namespace", id.Namespace).Str("serviceAccount", id.ServiceAccount).
		Str("role", id.Role).Int("ttlSeconds", secret.Auth.LeaseDuration).Msg("logged in to vault")
	return client, nil
}

// serviceAccountToken requests a short-lived token of id's ServiceAccount.
func (r *Reader) serviceAccountToken(ctx context.Context, id Identity) (string, error) {
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: new(int64(tokenLifetime)),
	}}
	if r.cfg.Audience != "" {
		req.Spec.Audiences = []string{r.cfg.Audience}
	}
	resp, err := r.kube.CoreV1().ServiceAccounts(id.Namespace).
		CreateToken(ctx, id.ServiceAccount, req, metav1.CreateOptions{})
	if err != nil {
		r.requests.WithLabelValues("login", resultDenied).Inc()
		return "", fmt.Errorf("%w: request a token of serviceaccount %s/%s: %w",
			ErrDenied, id.Namespace, id.ServiceAccount, err)
	}
	return resp.Status.Token, nil
}

// renew keeps the session's token alive with a lifetime watcher. When renewal stops (the
// token reached its maximum TTL, or Vault refused), the session is forgotten, so that the
// next read logs in again.
func (r *Reader) renew(client *vaultapi.Client, id Identity, s *session, secret *vaultapi.Secret) {
	if !secret.Auth.Renewable {
		return
	}
	watcher, err := client.NewLifetimeWatcher(&vaultapi.LifetimeWatcherInput{Secret: secret})
	if err != nil {
		r.log.Warn().Err(err).Str("namespace", id.Namespace).Msg("cannot renew the vault token")
		return
	}

	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go watcher.Start()
	go func() {
		defer watcher.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-watcher.RenewCh():
				r.requests.WithLabelValues("renew", resultOK).Inc()
			case err := <-watcher.DoneCh():
				if err != nil {
					r.requests.WithLabelValues("renew", resultOf(classify(err))).Inc()
				}
				r.log.Debug().Str("namespace", id.Namespace).Str("role", id.Role).
					Msg("vault token no longer renewable; the next read logs in again")
				r.forget(id, s)
				return
			}
		}
	}()
}

// String names an identity in errors and logs; it holds no credential.
func (id Identity) String() string {
	if id.Daemon {
		return "the daemon's token for namespace " + id.Namespace
	}
	return fmt.Sprintf("serviceaccount %s/%s with role %s", id.Namespace, id.ServiceAccount, id.Role)
}

// Close stops every token renewal.
func (r *Reader) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, s := range r.sessions {
		if s.stop != nil {
			s.stop()
		}
		delete(r.sessions, id)
	}
}

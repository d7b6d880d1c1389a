package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	vaultapi "github.com/hashicorp/vault/api"
)

// Errors of a read, to be told apart with errors.Is. Each maps to an Event reason.
var (
	ErrDenied      = errors.New("vault: permission denied")
	ErrNotFound    = errors.New("vault: not found")
	ErrSealed      = errors.New("vault: sealed")
	ErrUnavailable = errors.New("vault: unavailable")
)

// Results used as the result label of the requests counter.
const (
	resultOK          = "ok"
	resultDenied      = "denied"
	resultNotFound    = "not_found"
	resultSealed      = "sealed"
	resultUnavailable = "unavailable"
	resultError       = "error"
)

// mount is a secrets engine mount: its path with a trailing slash and its KV version.
type mount struct {
	path    string
	version int
}

// mountOf finds the mount that holds path and its KV version, asking Vault once per mount.
func (r *Reader) mountOf(ctx context.Context, client *vaultapi.Client, path string) (mount, error) {
	r.mu.Lock()
	for prefix, m := range r.mounts {
		if strings.HasPrefix(path, prefix) {
			r.mu.Unlock()
			return m, nil
		}
	}
	r.mu.Unlock()

	secret, err := client.Logical().ReadWithContext(ctx, "sys/internal/ui/mounts/"+path)
	if err != nil {
		return mount{}, fmt.Errorf("find the mount of %s: %w", path, classify(err))
	}
	if secret == nil {
		return mount{}, fmt.Errorf("%w: no mount holds %s", ErrNotFound, path)
	}
	m := mount{version: 1}
	m.path, _ = secret.Data["path"].(string)
	if options, ok := secret.Data["options"].(map[string]any); ok && fmt.Sprint(options["version"]) == "2" {
		m.version = 2
	}
	if typ, _ := secret.Data["type"].(string); typ != "kv" || m.path == "" {
		return mount{}, fmt.Errorf("%w: %s is not in a KV secrets engine", ErrNotFound, path)
	}

	r.mu.Lock()
	r.mounts[m.path] = m
	r.mu.Unlock()
	return m, nil
}

// fieldOf returns one field of a secret's data. A string is taken as it is; any other JSON
// value is stored as its JSON text.
func fieldOf(data map[string]any, field string) ([]byte, error) {
	value, ok := data[field]
	if !ok || value == nil {
		return nil, fmt.Errorf("%w: the secret has no field %s", ErrNotFound, field)
	}
	if s, ok := value.(string); ok {
		return []byte(s), nil
	}
	b, err := json.Marshal(value)
	if err != nil {
		return nil, fmt.Errorf("encode field %s: %w", field, err)
	}
	return b, nil
}

// classify wraps a Vault client error with the sentinel that says what went wrong. Vault's
// messages name paths, never tokens.
func classify(err error) error {
	var resp *vaultapi.ResponseError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, vaultapi.ErrSecretNotFound):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case !errors.As(err, &resp):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	case resp.StatusCode == http.StatusForbidden,
		resp.StatusCode == http.StatusBadRequest && strings.Contains(resp.Error(), "permission denied"),
		resp.StatusCode == http.StatusBadRequest && strings.Contains(resp.Error(), "invalid role"):
		return fmt.Errorf("%w: %w", ErrDenied, err)
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(resp.Error(), "sealed"):
		return fmt.Errorf("%w: %w", ErrSealed, err)
	case resp.StatusCode >= http.StatusInternalServerError:
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// resultOf is the requests counter's result label for an error from classify.
func resultOf(err error) string {
	switch {
	case err == nil:
		return resultOK
	case errors.Is(err, ErrDenied):
		return resultDenied
	case errors.Is(err, ErrNotFound):
		return resultNotFound
	case errors.Is(err, ErrSealed):
		return resultSealed
	case errors.Is(err, ErrUnavailable):
		return resultUnavailable
	}
	return resultError
}

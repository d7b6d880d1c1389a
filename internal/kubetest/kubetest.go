// Package kubetest holds the checks mergeflect's integration tests make against a real API
// server: what a user would see with kubectl, polled until it holds.
package kubetest

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"github.com/tazlab/mergeflect/merger"
)

// Eventually polls check until it returns nil, failing t with its last error after timeout.
func Eventually(t testing.TB, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after %s: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Consistently checks every 100 ms for d that check keeps returning nil.
func Consistently(t testing.TB, d time.Duration, check func() error) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		if err := check(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// HasData checks that the Secret ns/name exists with exactly data and the given type.
func HasData(
	ctx context.Context,
	client kubernetes.Interface,
	ns, name string,
	secretType corev1.SecretType,
	data map[string][]byte,
) error {
	s, err := client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get secret %s/%s: %w", ns, name, err)
	}
	if s.Type != secretType {
		return fmt.Errorf("%s/%s has type %s, want %s", ns, name, s.Type, secretType)
	}
	if merger.Hash(s.Type, s.Data) != merger.Hash(secretType, data) {
		return fmt.Errorf("%s/%s holds keys %v with content %s, want keys %v of content %s",
			ns, name, slices.Sorted(maps.Keys(s.Data)), merger.Hash(s.Type, s.Data),
			slices.Sorted(maps.Keys(data)), merger.Hash(secretType, data))
	}
	return nil
}

// IsAbsent checks that the Secret ns/name does not exist.
func IsAbsent(ctx context.Context, client kubernetes.Interface, ns, name string) error {
	_, err := client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get secret %s/%s: %w", ns, name, err)
	}
	return fmt.Errorf("secret %s/%s exists", ns, name)
}

// HasEvent checks that an Event of reason was recorded on the Secret ns/name.
func HasEvent(ctx context.Context, client kubernetes.Interface, ns, name, reason string) error {
	list, err := client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{
		FieldSelector: fields.Set{"involvedObject.name": name, "involvedObject.kind": "Secret"}.String(),
	})
	if err != nil {
		return fmt.Errorf("list events of %s/%s: %w", ns, name, err)
	}
	var seen []string
	for _, e := range list.Items {
		if e.Reason == reason {
			return nil
		}
		seen = append(seen, e.Reason)
	}
	return fmt.Errorf("no %s Event on %s/%s; saw %v", reason, ns, name, seen)
}

// NothingQuoted fails if the daemon's log at logPath, or any Event in the cluster, contains
// one of markers: strings only Secret data or credentials contain.
func NothingQuoted(ctx context.Context, client kubernetes.Interface, logPath string, markers []string) error {
	log, err := os.ReadFile(logPath)
	if err != nil {
		return fmt.Errorf("read the daemon's log: %w", err)
	}
	events, err := client.CoreV1().Events("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list events: %w", err)
	}
	said := []string{string(log)}
	for _, e := range events.Items {
		said = append(said, e.Message)
	}

	for _, text := range said {
		for _, marker := range markers {
			if strings.Contains(text, marker) {
				return fmt.Errorf("mergeflect's log or Events quote %q", marker)
			}
		}
	}
	return nil
}

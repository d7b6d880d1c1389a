// Package ha runs two mergeflect replicas with leader election against a real API server
// and checks that a replica lost in the middle of a fan-out loses nothing a user can see.
package ha

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/tazlab/mergeflect/annotations"
	"github.com/tazlab/mergeflect/internal/testdaemon"
	"github.com/tazlab/mergeflect/internal/testenv"
	"github.com/tazlab/mergeflect/merger"
)

const (
	leaseNamespace = "mergeflect-system"
	leaseName      = "mergeflect"
	leaseDuration  = 4 * time.Second
	namespaces     = 300
)

var (
	admin      kubernetes.Interface
	bin        string
	kubeconfig string
	workDir    string
)

func TestMain(m *testing.M) {
	testenv.Main("e2e/ha", func(ctx context.Context, env *testenv.Env) (int, error) {
		admin, bin, kubeconfig, workDir = env.Admin, env.Bin, env.Kubeconfig, env.Dir
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: leaseNamespace}}
		if _, err := admin.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			return 0, err
		}
		return m.Run(), nil
	})
}

// replica starts one elected mergeflect; the test stops or kills it.
func replica(t *testing.T, name string) *testdaemon.Daemon {
	t.Helper()
	d, err := testdaemon.Start(bin, kubeconfig, filepath.Join(workDir, name+".log"),
		"--leader-elect", "--leader-election-namespace", leaseNamespace,
		"--leader-election-lease-duration", leaseDuration.String(),
		"--leader-election-renew-deadline", "3s", "--leader-election-retry-period", "500ms",
		// A slow client makes the fan-out long enough to be interrupted.
		"--kube-api-qps", "60", "--kube-api-burst", "10")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WaitReady(t.Context()); err != nil {
		t.Fatal(err)
	}
	return d
}

// leader returns the holder of the Lease, waiting until there is one.
func leader(t *testing.T, notHolder string) string {
	t.Helper()
	deadline := time.Now().Add(3 * leaseDuration)
	for time.Now().Before(deadline) {
		lease, err := admin.CoordinationV1().Leases(leaseNamespace).Get(t.Context(), leaseName, metav1.GetOptions{})
		if err == nil && holder(lease) != "" && holder(lease) != notHolder {
			return holder(lease)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no replica other than %q took the Lease within %s", notHolder, 3*leaseDuration)
	return ""
}

func holder(l *coordinationv1.Lease) string {
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func TestLeaderKilledMidFanOut(t *testing.T) {
	a, b := replica(t, "a"), replica(t, "b")
	first := leader(t, "")
	leading, standby := leadingReplica(t, a, b), a
	if leading == a {
		standby = b
	}

	// Mirrors are watched from before the fan-out: what a user sees of each must be one
	// creation, then one update per rotation, whichever replica wrote it.
	prefix := "kill"
	createNamespaces(t, prefix)
	writes := watchMirrors(t, prefix)
	one := map[string][]byte{"v": []byte("one")}
	createSource(t, prefix, one)
	second := killMidFanOut(t, writes, leading, first, hashOf(one))

	// A rotation, and the new leader is killed in the middle of it too.
	third := replica(t, "c")
	defer func() { _ = third.Stop() }()
	two := map[string][]byte{"v": []byte("two")}
	rotateSource(t, prefix, two)
	killMidFanOut(t, writes, standby, second, hashOf(two))

	time.Sleep(2 * time.Second)
	if err := writes.exactly("ADDED:"+hashOf(one), "MODIFIED:"+hashOf(two)); err != nil {
		t.Error(err)
	}
}

// killMidFanOut kills the leader once a fifth of the mirrors hold hash, then waits for
// another replica to take over and finish. It returns the new leader's identity.
func killMidFanOut(t *testing.T, writes *mirrorWrites, leading *testdaemon.Daemon, id, hash string) string {
	t.Helper()
	waitHash(t, writes, hash, namespaces/5, 30*time.Second)
	leading.Kill()
	killedAt, written := time.Now(), writes.holding(hash)
	if written >= namespaces {
		t.Fatalf("the fan-out finished (%d mirrors) before the leader was killed; slow it down", written)
	}

	next := leader(t, id)
	tookOver := time.Since(killedAt)
	waitHash(t, writes, hash, namespaces, time.Minute)
	t.Logf("leader %s killed after %d of %d mirrors; %s took over in %s", id, written, namespaces, next, tookOver)
	if tookOver > leaseDuration+2*time.Second {
		t.Errorf("takeover took %s, lease duration is %s", tookOver, leaseDuration)
	}
	return next
}

func TestGracefulShutdownReleasesTheLease(t *testing.T) {
	a, b := replica(t, "a2"), replica(t, "b2")
	defer func() { _ = a.Stop(); _ = b.Stop() }()
	first := leader(t, "")
	leading := leadingReplica(t, a, b)

	stoppedAt := time.Now()
	if err := leading.Stop(); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	next := leader(t, first)

	// A released Lease is taken at the next retry, well before it would have expired.
	if took := time.Since(stoppedAt); took > leaseDuration {
		t.Errorf("%s took over %s after a graceful stop; the Lease was not released", next, took)
	}
}

func createNamespaces(t *testing.T, prefix string) {
	t.Helper()
	for _, name := range append([]string{prefix + "-src"}, mirrorNamespaces(prefix)...) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"ha": prefix}}}
		if _, err := admin.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

func mirrorNamespaces(prefix string) []string {
	var names []string
	for i := range namespaces {
		names = append(names, fmt.Sprintf("%s-%03d", prefix, i))
	}
	return names
}

func createSource(t *testing.T, prefix string, data map[string][]byte) {
	t.Helper()
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:   prefix + "-src",
			Name:        "src",
			Labels:      map[string]string{annotations.MergeInto: "fan"},
			Annotations: map[string]string{annotations.ReflectTo: prefix + "-[0-9]+"},
		},
		Data: data,
	}
	if _, err := admin.CoreV1().Secrets(s.Namespace).Create(t.Context(), s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// mirrorWrites records what a user watching the mirrors sees happen to each: the events,
// as TYPE:content-hash, by namespace.
type mirrorWrites struct {
	mu     sync.Mutex
	events map[string][]string
}

// holding counts the mirrors whose latest version holds hash.
func (w *mirrorWrites) holding(hash string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, events := range w.events {
		if strings.HasSuffix(events[len(events)-1], ":"+hash) {
			n++
		}
	}
	return n
}

// exactly reports a mirror whose history is not want.
func (w *mirrorWrites) exactly(want ...string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.events) != namespaces {
		return fmt.Errorf("%d mirrors seen, want %d", len(w.events), namespaces)
	}
	for ns, events := range w.events {
		if !slices.Equal(events, want) {
			return fmt.Errorf("mirror in %s saw %v, want %v", ns, events, want)
		}
	}
	return nil
}

func watchMirrors(t *testing.T, prefix string) *mirrorWrites {
	t.Helper()
	w, err := admin.CoreV1().Secrets("").Watch(t.Context(), metav1.ListOptions{
		LabelSelector: annotations.ManagedBy + "=" + annotations.ManagedByValue,
	})
	if err != nil {
		t.Fatal(err)
	}
	writes := &mirrorWrites{events: map[string][]string{}}
	go func() {
		for ev := range w.ResultChan() {
			s, ok := ev.Object.(*corev1.Secret)
			if !ok || s.Annotations[annotations.ReflectedFrom] != prefix+"-src/fan" {
				continue
			}
			writes.mu.Lock()
			writes.events[s.Namespace] = append(writes.events[s.Namespace],
				string(ev.Type)+":"+merger.Hash(s.Type, s.Data))
			writes.mu.Unlock()
		}
	}()
	t.Cleanup(w.Stop)
	return writes
}

func waitHash(t *testing.T, w *mirrorWrites, hash string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for w.holding(hash) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d mirrors hold %s after %s", w.holding(hash), n, hash, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func hashOf(data map[string][]byte) string {
	return merger.Hash(corev1.SecretTypeOpaque, data)
}

func rotateSource(t *testing.T, prefix string, data map[string][]byte) {
	t.Helper()
	s, err := admin.CoreV1().Secrets(prefix+"-src").Get(t.Context(), "src", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Data = data
	if _, err := admin.CoreV1().Secrets(s.Namespace).Update(t.Context(), s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// leadingReplica returns the replica whose mergeflect_leader metric is 1.
func leadingReplica(t *testing.T, replicas ...*testdaemon.Daemon) *testdaemon.Daemon {
	t.Helper()
	for _, d := range replicas {
		if v, _, err := d.Metric(t.Context(), "mergeflect_leader"); err == nil && v == 1 {
			return d
		}
	}
	t.Fatal("no replica reports mergeflect_leader 1")
	return nil
}

package e2e

import (
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tazlab/mergeflect/annotations"
	"github.com/tazlab/mergeflect/merger"
)

// BenchmarkFanOut measures how long one Secret takes to reach many namespaces, first as new
// mirrors, then as an update of all of them. Run with -benchtime 1x: each run creates its
// namespaces, which this control plane cannot delete.
func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{50, 500} {
		b.Run(fmt.Sprintf("namespaces=%d", n), func(b *testing.B) {
			for range b.N {
				create, update := fanOutOnce(b, n)
				b.ReportMetric(create.Seconds(), "s/create-all")
				b.ReportMetric(update.Seconds(), "s/update-all")
			}
		})
	}
}

func fanOutOnce(b *testing.B, n int) (create, update time.Duration) {
	ctx := b.Context()
	p := prefix()
	createNamespace(b, p+"-src", nil)
	parallel(b, n, func(i int) error {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("%s-%03d", p, i), Labels: map[string]string{"fanout": p},
		}}
		_, err := admin.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
		return err
	})

	data := map[string][]byte{"v": []byte("one")}
	start := time.Now()
	createSource(b, source{
		ns: p + "-src", name: "src", target: "fan",
		annotations: map[string]string{annotations.ReflectToSelector: "fanout=" + p}, data: data,
	})
	waitMirrors(b, p+"-src/fan", n, merger.Hash(corev1.SecretTypeOpaque, data))
	create = time.Since(start)

	data = map[string][]byte{"v": []byte("two")}
	start = time.Now()
	updateSecret(b, p+"-src", "src", setData("v", data["v"]))
	waitMirrors(b, p+"-src/fan", n, merger.Hash(corev1.SecretTypeOpaque, data))
	return create, time.Since(start)
}

// waitMirrors waits until n mirrors of from hold the content hash.
func waitMirrors(b *testing.B, from string, n int, hash string) {
	b.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		list, err := admin.CoreV1().Secrets("").List(b.Context(), metav1.ListOptions{
			LabelSelector: annotations.ManagedBy + "=" + annotations.ManagedByValue,
		})
		if err != nil {
			b.Fatal(err)
		}
		done := 0
		for _, s := range list.Items {
			if s.Annotations[annotations.ReflectedFrom] == from && s.Annotations[annotations.ContentHash] == hash {
				done++
			}
		}
		if done == n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatalf("mirrors of %s did not all reach content %s", from, hash)
}

// BenchmarkUnmanagedSecrets measures what the daemon's heap grows by for Secrets it does
// not manage: 5,000 Secrets of 8 KiB each, unrelated to mergeflect, as Helm releases and
// service-account tokens are in a real cluster.
func BenchmarkUnmanagedSecrets(b *testing.B) {
	const count, size = 5000, 8 << 10
	for range b.N {
		ns := prefix() + "-unrelated"
		createNamespace(b, ns, nil)
		before := heapAfterSettling(b)

		payload := make([]byte, size)
		parallel(b, count, func(i int) error {
			s := &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("release-%05d", i)},
				Data:       map[string][]byte{"release": payload},
			}
			_, err := admin.CoreV1().Secrets(ns).Create(b.Context(), s, metav1.CreateOptions{})
			return err
		})
		after := heapAfterSettling(b)

		perSecret := (after - before) / count
		b.ReportMetric(perSecret, "heap-B/unmanaged-secret")
		b.ReportMetric(float64(size), "data-B/unmanaged-secret")
		if perSecret > size/4 {
			b.Errorf("heap grew by %.0f B per unmanaged Secret of %d B: its data is being kept", perSecret, size)
		}
	}
}

// heapAfterSettling waits for the daemon to catch up, then reads its live heap.
func heapAfterSettling(b *testing.B) float64 {
	b.Helper()
	time.Sleep(3 * time.Second)
	v, ok, err := metricValue(b.Context(), "go_memstats_heap_inuse_bytes")
	if err != nil || !ok {
		b.Fatalf("read the daemon's heap: %v", err)
	}
	return v
}

// parallel runs fn for 0..n-1 on 16 goroutines and fails b on the first error.
func parallel(b *testing.B, n int, fn func(int) error) {
	b.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}

package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
)

// crdKinds are the kinds the chart renders whose CRDs a bare API server lacks. They are
// checked to render, and sent nowhere.
var crdKinds = map[string]bool{"ServiceMonitor": true, "PrometheusRule": true}

// renderChart runs helm template on the chart as release in namespace, with the values files
// given, and returns the objects it renders.
func renderChart(
	t *testing.T,
	release, namespace string,
	values ...string,
) []*unstructured.Unstructured {
	t.Helper()
	args := []string{"template", release, chartDir, "--namespace", namespace}
	for _, v := range values {
		args = append(args, "--values", v)
	}
	return decode(t, command(t, helm, args...))
}

// command runs name with args and returns its standard output, failing the test with its
// standard error if it fails.
func command(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, stderr.String())
	}
	return stdout.Bytes()
}

// decode splits a multi-document YAML stream into objects, leaving out empty documents.
func decode(t *testing.T, stream []byte) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(stream), 4096)
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("decode rendered manifests: %v", err)
		}
		if len(doc) > 0 {
			objs = append(objs, &unstructured.Unstructured{Object: doc})
		}
	}
}

// resourceFor returns the client of obj's resource, scoped to its namespace if it has one.
func resourceFor(obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := obj.GroupVersionKind()
	mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("map %s: %w", gvk, err)
	}
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		return dyn.Resource(mapping.Resource).Namespace(obj.GetNamespace()), nil
	}
	return dyn.Resource(mapping.Resource), nil
}

// create creates obj through the admin client. With dryRun the API server runs every
// admission and validation step and stores nothing. Unknown or duplicate fields are errors.
func create(ctx context.Context, obj *unstructured.Unstructured, dryRun bool) error {
	res, err := resourceFor(obj)
	if err != nil {
		return err
	}
	opts := metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if _, err := res.Create(ctx, obj, opts); err != nil {
		return fmt.Errorf("create %s %s/%s: %w", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

// ensureNamespaces creates every namespace the objects live in, unless it exists: the API
// server refuses even a dry run into a namespace that does not exist.
func ensureNamespaces(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, obj := range objs {
		if ns := obj.GetNamespace(); ns != "" {
			ensureNamespace(t, ns)
		}
	}
}

func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	_, err := admin.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// ofKind returns the objects of the given kinds, in their rendered order.
func ofKind(objs []*unstructured.Unstructured, kinds ...string) []*unstructured.Unstructured {
	var found []*unstructured.Unstructured
	for _, obj := range objs {
		for _, k := range kinds {
			if obj.GetKind() == k {
				found = append(found, obj)
			}
		}
	}
	return found
}

// only returns the one object of kind, failing the test if there is not exactly one.
func only(t *testing.T, objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	t.Helper()
	found := ofKind(objs, kind)
	if len(found) != 1 {
		t.Fatalf("the chart rendered %d objects of kind %s, want 1", len(found), kind)
	}
	return found[0]
}

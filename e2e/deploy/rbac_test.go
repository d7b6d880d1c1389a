package deploy

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// rbacKinds are the objects that make up mergeflect's identity and its permissions.
var rbacKinds = []string{
	"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
}

// createSecretDenied is what the API server says when mergeflect may not create a Secret.
const createSecretDenied = `cannot create resource "secrets"`

// TestLeastPrivilege runs mergeflect as the chart's ServiceAccount, with the chart's RBAC and
// the chart's arguments, against an API server that enforces RBAC. The two runs are in turn,
// each with its own release and namespaces, so that only one daemon is ever at work.
func TestLeastPrivilege(t *testing.T) {
	t.Run("chart rules", func(t *testing.T) {
		name := unique("granted")
		r := install(t, name, nil)
		p := startLikeDeployment(t, r.deployment, r.namespace, r.kubeconfig)
		p.waitReady(t)
		s := seed(t, name)
		t.Cleanup(func() { p.kill(); s.remove(t) })

		// The merged target and its mirrors appear, reported by an Event; only the leader,
		// which the Role lets take the Lease, writes.
		eventually(t, func() error { return s.published(t.Context()) })
		if err := isAbsent(t.Context(), s.other, target); err != nil {
			t.Errorf("namespace that matches no pattern: %v", err)
		}
		eventually(t, func() error { return hasMergedEvent(t.Context(), s.source) })
		r.holdsLease(t)

		// A rotation updates the target and the mirrors; a narrower pattern deletes a mirror.
		s.rotate(t)
		eventually(t, func() error { return s.published(t.Context()) })
		dropped := s.narrow(t)
		eventually(t, func() error { return isAbsent(t.Context(), dropped, target) })
		eventually(t, func() error { return s.published(t.Context()) })

		// No request along the way was refused, reads and Events included.
		if lines := p.forbidden(t); len(lines) > 0 {
			t.Errorf("the chart's rules leave mergeflect short of a permission:\n%s",
				strings.Join(lines, "\n"))
		}
		p.stop(t)
	})

	t.Run("without create on secrets", func(t *testing.T) {
		name := unique("denied")
		r := install(t, name, func(role *rbacv1.ClusterRole) {
			dropVerb(t, role, "secrets", "create")
		})
		p := startLikeDeployment(t, r.deployment, r.namespace, r.kubeconfig)
		p.waitReady(t)
		s := seed(t, name)
		t.Cleanup(func() { p.kill(); s.remove(t) })

		// The merge is refused exactly where the missing rule says: creating the target.
		wantLog := fmt.Sprintf("create secret %s/%s", s.source, target)
		eventually(t, func() error {
			for _, line := range p.forbidden(t) {
				if strings.Contains(line, wantLog) && strings.Contains(line, createSecretDenied) {
					return nil
				}
			}
			return fmt.Errorf("no forbidden error that says %q in the log", wantLog)
		})

		// Nothing else was refused, and nothing was written.
		for _, line := range p.forbidden(t) {
			if !strings.Contains(line, createSecretDenied) {
				t.Errorf("forbidden for another reason than the missing rule: %s", line)
			}
		}
		for _, ns := range s.namespaces {
			if err := isAbsent(t.Context(), ns, target); err != nil {
				t.Error(err)
			}
		}
		if hasMergedEvent(t.Context(), s.source) == nil {
			t.Error("a Merged Event was recorded for a target that cannot have been written")
		}
		p.stop(t)
	})
}

var runs atomic.Int32

// unique returns a release name no earlier run in this control plane used, so that the
// tests can be repeated with -count.
func unique(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, runs.Add(1))
}

// release is a chart release whose RBAC objects exist in the API server.
type release struct {
	name, namespace string
	deployment      *unstructured.Unstructured
	kubeconfig      string
}

// install renders the chart with its default values as release name, in namespace
// name-system, creates its ServiceAccount and RBAC objects, the ClusterRole changed by edit
// if given, and writes a kubeconfig that authenticates as the ServiceAccount.
func install(t *testing.T, name string, edit func(*rbacv1.ClusterRole)) *release {
	t.Helper()
	r := &release{name: name, namespace: name + "-system"}
	objs := renderChart(t, r.name, r.namespace)
	r.deployment = only(t, objs, "Deployment")
	if edit != nil {
		editClusterRole(t, only(t, objs, "ClusterRole"), edit)
	}

	ensureNamespace(t, r.namespace)
	for _, obj := range ofKind(objs, rbacKinds...) {
		if err := create(t.Context(), obj, false); err != nil {
			t.Fatal(err)
		}
	}

	// A token of the ServiceAccount, as the kubelet would mount one into the pod.
	sa := only(t, objs, "ServiceAccount").GetName()
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: new(int64(3600)),
	}}
	token, err := admin.CoreV1().ServiceAccounts(r.namespace).CreateToken(t.Context(), sa, req,
		metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("request a token of serviceaccount %s/%s: %v", r.namespace, sa, err)
	}
	r.kubeconfig = writeKubeconfig(t, token.Status.Token)
	return r
}

func editClusterRole(t *testing.T, obj *unstructured.Unstructured, edit func(*rbacv1.ClusterRole)) {
	t.Helper()
	var role rbacv1.ClusterRole
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &role); err != nil {
		t.Fatalf("read the chart's ClusterRole: %v", err)
	}
	edit(&role)
	edited, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&role)
	if err != nil {
		t.Fatal(err)
	}
	obj.Object = edited
}

// dropVerb removes verb from the rules on resource in the core group, failing the test if
// no rule grants it: the run would prove nothing.
func dropVerb(t *testing.T, role *rbacv1.ClusterRole, resource, verb string) {
	t.Helper()
	dropped := false
	for i, rule := range role.Rules {
		if slices.Contains(rule.APIGroups, "") && slices.Contains(rule.Resources, resource) &&
			slices.Contains(rule.Verbs, verb) {
			role.Rules[i].Verbs = slices.DeleteFunc(slices.Clone(rule.Verbs),
				func(v string) bool { return v == verb })
			dropped = true
		}
	}
	if !dropped {
		t.Fatalf("the chart's ClusterRole grants no %s on %s", verb, resource)
	}
}

// writeKubeconfig writes a kubeconfig for the control plane that authenticates with token.
func writeKubeconfig(t *testing.T, token string) string {
	t.Helper()
	const name = "deploy-test"
	rc := cp.ConfigFor(token)
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: rc.Host, CertificateAuthorityData: rc.CAData}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: rc.BearerToken}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	cfg.CurrentContext = name

	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// holdsLease checks that a replica holds the release's leader Lease, which only the Role
// lets it take.
func (r *release) holdsLease(t *testing.T) {
	t.Helper()
	args := containerArgs(t, r.deployment)
	if !slices.Contains(args, "--leader-elect=true") {
		t.Fatal("the chart's default values turn leader election off")
	}
	name := "mergeflect"
	for _, arg := range args {
		if id, ok := strings.CutPrefix(arg, "--leader-election-id="); ok {
			name = id
		}
	}
	leases := admin.CoordinationV1().Leases(r.namespace)
	lease, err := leases.Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("read the leader Lease: %v", err)
	}
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
		t.Errorf("Lease %s/%s has no holder", r.namespace, lease.Name)
	}
}

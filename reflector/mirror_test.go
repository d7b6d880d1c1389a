package reflector

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tazlab/mergeflect/annotations"
	"github.com/tazlab/mergeflect/merger"
)

func TestMirror(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		source *corev1.Secret
		ns     string
	}{
		"merge target": {
			source: &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{
					Namespace:   "vso-system",
					Name:        "wildcard-tls",
					Labels:      map[string]string{annotations.ManagedBy: annotations.ManagedByValue},
					Annotations: map[string]string{annotations.ReflectTo: "auth,dex"},
				},
				Type: corev1.SecretTypeTLS,
				Data: map[string][]byte{"tls.crt": []byte("cert"), "tls.key": []byte("key")},
			},
			ns: "auth",
		},
		"secret annotated for Reflector that is also a merge source": {
			source: &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{
					Namespace:       "vso-system",
					Name:            "oauth",
					UID:             "0b6c1f0e-3c1a-4d8e-9a57-1f4f1a0c2d11",
					ResourceVersion: "4711",
					Labels: map[string]string{
						annotations.MergeInto: "tailscale",
						annotations.ManagedBy: "external-secrets",
						"team":                "platform",
					},
					Annotations: map[string]string{
						annotations.ReflectorAllowed:     "true",
						annotations.ReflectorAutoEnabled: "true",
						annotations.Keys:                 "client_id=client-id",
					},
					OwnerReferences: []metav1.OwnerReference{{Kind: "ExternalSecret", Name: "oauth"}},
					Finalizers:      []string{"example.com/keep"},
				},
				Type: corev1.SecretTypeOpaque,
				Data: map[string][]byte{"client_id": []byte("id"), "client_secret": []byte("secret")},
			},
			ns: "tailscale",
		},
		"secret without data": {
			source: &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: "vso-system", Name: "empty"},
				Type:       corev1.SecretTypeOpaque,
			},
			ns: "dex",
		},
	}

	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			want := &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{
					Namespace: tt.ns,
					Name:      tt.source.Name,
					Labels:    map[string]string{annotations.ManagedBy: annotations.ManagedByValue},
					Annotations: map[string]string{
						annotations.ReflectedFrom: tt.source.Namespace + "/" + tt.source.Name,
						annotations.ContentHash:   merger.Hash(tt.source.Type, tt.source.Data),
					},
				},
				Type: tt.source.Type,
				Data: tt.source.Data,
			}

			got := Mirror(tt.source, tt.ns)
			if !reflect.DeepEqual(got.ObjectMeta, want.ObjectMeta) {
				t.Errorf("Mirror() metadata = %+v, want %+v", got.ObjectMeta, want.ObjectMeta)
			}
			if got.Type != want.Type || !maps.EqualFunc(got.Data, want.Data, slices.Equal) {
				t.Errorf("Mirror() = type %s keys %v, want type %s keys %v", got.Type,
					slices.Sorted(maps.Keys(got.Data)), want.Type, slices.Sorted(maps.Keys(want.Data)))
			}
		})
	}
}

func TestMirrorDataIsACopy(t *testing.T) {
	t.Parallel()
	source := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:   "vso-system",
			Name:        "wildcard-tls",
			Labels:      map[string]string{annotations.ManagedBy: annotations.ManagedByValue},
			Annotations: map[string]string{annotations.ContentHash: "1111111111111111"},
		},
		Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{"tls.crt": []byte("cert"), "tls.key": []byte("key")},
	}
	before := source.DeepCopy()

	mirror := Mirror(source, "auth")
	mirror.Data["tls.crt"] = []byte("other cert")
	mirror.Data["extra"] = []byte("x")
	delete(mirror.Data, "tls.key")
	mirror.Labels["team"] = "web"
	mirror.Annotations[annotations.ContentHash] = "0000000000000000"

	if !reflect.DeepEqual(source, before) {
		t.Errorf("changing the mirror changed its source: data keys %v, labels %v",
			slices.Sorted(maps.Keys(source.Data)), source.Labels)
	}
}

func TestSourceOf(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		annotations map[string]string
		want        types.NamespacedName
		wantOK      bool
	}{
		"mirror": {
			annotations: map[string]string{annotations.ReflectedFrom: "vso-system/wildcard-tls"},
			want:        types.NamespacedName{Namespace: "vso-system", Name: "wildcard-tls"},
			wantOK:      true,
		},
		"not a mirror":    {annotations: map[string]string{annotations.ReflectTo: "auth"}},
		"no annotations":  {annotations: nil},
		"name only":       {annotations: map[string]string{annotations.ReflectedFrom: "wildcard-tls"}},
		"empty reference": {annotations: map[string]string{annotations.ReflectedFrom: ""}},
	}

	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			mirror := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
				Namespace: "auth", Name: "wildcard-tls", Annotations: tt.annotations,
			}}
			got, ok := SourceOf(mirror)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("SourceOf() = %s, %v; want %s, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestSourceOfMirror(t *testing.T) {
	t.Parallel()
	want := types.NamespacedName{Namespace: "vso-system", Name: "wildcard-tls"}
	source := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: want.Namespace, Name: want.Name}}

	got, ok := SourceOf(Mirror(source, "auth"))
	if !ok || got != want {
		t.Errorf("SourceOf(Mirror()) = %s, %v; want %s", got, ok, want)
	}
}

func TestParseRef(t *testing.T) {
	t.Parallel()
	wildcardTLS := types.NamespacedName{Namespace: "vso-system", Name: "wildcard-tls"}
	tests := map[string]struct {
		value   string
		want    types.NamespacedName
		wantErr bool
	}{
		"namespace and name": {value: "vso-system/wildcard-tls", want: wildcardTLS},
		"spaces around":      {value: " vso-system/wildcard-tls\n", want: wildcardTLS},
		"name only":          {value: "wildcard-tls", wantErr: true},
		"empty namespace":    {value: "/wildcard-tls", wantErr: true},
		"empty name":         {value: "vso-system/", wantErr: true},
		"two slashes":        {value: "vso-system/wildcard/tls", wantErr: true},
		"empty":              {value: "", wantErr: true},
		"only a slash":       {value: " / ", wantErr: true},
	}

	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseRef(tt.value)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ParseRef(%q) = %s, %v; want %s, error %v", tt.value, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func FuzzParseRef(f *testing.F) {
	seeds := []string{"vso-system/wildcard-tls", " a/b ", "a/b/c", "/b", "a/", "/", "", "a"}
	for _, seed := range seeds {
		f.Add(seed)
	}

	f.Fuzz(func(t *testing.T, value string) {
		key, err := ParseRef(value)
		if err != nil {
			return
		}
		if key.Namespace == "" || key.Name == "" || strings.Contains(key.Name, "/") {
			t.Fatalf("ParseRef(%q) = %q, %q", value, key.Namespace, key.Name)
		}
		if ref := key.Namespace + "/" + key.Name; ref != strings.TrimSpace(value) {
			t.Fatalf("ParseRef(%q) = %q, which is not the reference written", value, ref)
		}
		if again, err := ParseRef(key.String()); err != nil || again != key {
			t.Fatalf("ParseRef(%q) = %s, but that parses to %s, %v", value, key, again, err)
		}
	})
}

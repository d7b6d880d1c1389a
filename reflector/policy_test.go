package reflector

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tazlab/mergeflect/annotations"
)

// cluster is the set of namespaces every policy test chooses from.
var cluster = []*corev1.Namespace{
	namespace("auth", "env", "prod", "team", "platform"),
	namespace("dex", "env", "prod"),
	namespace("hugo-blog", "env", "prod", "team", "web"),
	namespace("hugo-wiki", "env", "dev", "team", "web"),
	namespace("my-hugo-blog"),
	namespace("kube-system"),
}

func namespace(name string, kv ...string) *corev1.Namespace {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}}}
	for i := 0; i+1 < len(kv); i += 2 {
		ns.Labels[kv[i]] = kv[i+1]
	}
	return ns
}

// selected returns the names of the namespaces of cluster that p selects.
func selected(p Policy) []string {
	var names []string
	for _, ns := range cluster {
		if p.Selects(ns) {
			names = append(names, ns.Name)
		}
	}
	return names
}

func TestParsePatterns(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		value   string
		matches []string
		rejects []string
		wantErr bool
	}{
		"prefix pattern": {
			value:   "hugo-.*",
			matches: []string{"hugo-blog", "hugo-wiki", "hugo-"},
			rejects: []string{"my-hugo-blog", "hugo", "xhugo-blog"},
		},
		"plain name": {
			value:   "auth",
			matches: []string{"auth"},
			rejects: []string{"auth2", "oauth", "auth\n", ""},
		},
		"list with spaces and empty items": {
			value:   " auth, dex ,,hugo-.* ,",
			matches: []string{"auth", "dex", "hugo-blog"},
			rejects: []string{"dex2", "my-hugo-blog", " dex"},
		},
		"alternation stays anchored": {
			value:   "auth|dex",
			matches: []string{"auth", "dex"},
			rejects: []string{"authdex", "auth-x", "x-dex"},
		},
		"multi-line flag stays inside the pattern": {
			value:   "(?m)auth$",
			matches: []string{"auth"},
			rejects: []string{"auth\ndex"},
		},
		"empty list":      {value: "", rejects: []string{"", "auth"}},
		"only commas":     {value: " , ,", rejects: []string{"", "auth"}},
		"open group":      {value: "auth,hugo-(", wantErr: true},
		"open class":      {value: "[a-z", wantErr: true},
		"bad repeat":      {value: "*auth", wantErr: true},
		"trailing escape": {value: `auth\`, wantErr: true},
		// A stray ")" must not close the group that anchors the pattern: "a)|(b" would read
		// as "^(?:a)" or "(b)$" and match any name that starts with a or ends with b.
		"parenthesis closing the anchor group": {value: "auth)|(dex", wantErr: true},
	}

	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			patterns, err := ParsePatterns(tt.value)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParsePatterns(%q) = %v, want an error", tt.value, patterns)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePatterns(%q): %v", tt.value, err)
			}
			for _, name := range tt.matches {
				if !anyMatch(patterns, name) {
					t.Errorf("ParsePatterns(%q) does not match %q", tt.value, name)
				}
			}
			for _, name := range tt.rejects {
				if anyMatch(patterns, name) {
					t.Errorf("ParsePatterns(%q) matches %q", tt.value, name)
				}
			}
		})
	}
}

func TestForTarget(t *testing.T) {
	t.Parallel()
	to, sel := annotations.ReflectTo, annotations.ReflectToSelector
	tests := map[string]struct {
		reflectTo, selector string
		want                []string
		wantErr             string
	}{
		"no settings":    {},
		"blank settings": {reflectTo: " , ", selector: "  "},
		"patterns": {
			reflectTo: "auth,hugo-.*", want: []string{"auth", "hugo-blog", "hugo-wiki"},
		},
		"set-based selector": {
			selector: "env in (prod)", want: []string{"auth", "dex", "hugo-blog"},
		},
		"equality selector": {
			selector: "team=web", want: []string{"hugo-blog", "hugo-wiki"},
		},
		"selector of two labels": {
			selector: "team=web,env!=dev", want: []string{"hugo-blog"},
		},
		"selector on a missing label": {
			selector: "!team", want: []string{"dex", "my-hugo-blog", "kube-system"},
		},
		"patterns or selector": {
			reflectTo: "dex", selector: "team=web", want: []string{"dex", "hugo-blog", "hugo-wiki"},
		},
		"invalid pattern":                  {reflectTo: "hugo-(", wantErr: to},
		"unterminated set selector":        {selector: "env in (prod", wantErr: sel},
		"selector with invalid key":        {selector: "-team=web", wantErr: sel},
		"set selector without parentheses": {reflectTo: "auth", selector: "env in prod", wantErr: sel},
	}

	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, err := ForTarget(tt.reflectTo, tt.selector)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ForTarget(%q, %q) error = %v, want one naming %s",
						tt.reflectTo, tt.selector, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ForTarget(%q, %q): %v", tt.reflectTo, tt.selector, err)
			}
			if got := selected(p); !slices.Equal(got, tt.want) {
				t.Errorf("ForTarget(%q, %q) selects %v, want %v", tt.reflectTo, tt.selector, got, tt.want)
			}
			if p.Empty() != (len(tt.want) == 0) {
				t.Errorf("ForTarget(%q, %q).Empty() = %v", tt.reflectTo, tt.selector, p.Empty())
			}
		})
	}
}

// reflectorAnnotations returns Reflector's annotations from key, value pairs, the keys
// without their common prefix.
func reflectorAnnotations(kv ...string) map[string]string {
	a := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		a["reflector.v1.k8s.emberstack.com/reflection-"+kv[i]] = kv[i+1]
	}
	return a
}

func TestForReflector(t *testing.T) {
	t.Parallel()
	all := []string{"auth", "dex", "hugo-blog", "hugo-wiki", "my-hugo-blog", "kube-system"}
	tests := map[string]struct {
		annotations map[string]string
		wantOK      bool
		want        []string
		wantErr     string
	}{
		"auto namespaces of the seed": {
			annotations: reflectorAnnotations("allowed", "true", "auto-enabled", "true",
				"auto-namespaces", "auth,dex,hugo-blog,hugo-wiki,ai-agents"),
			wantOK: true,
			want:   []string{"auth", "dex", "hugo-blog", "hugo-wiki"},
		},
		"flags in any case": {
			annotations: reflectorAnnotations("allowed", "True", "auto-enabled", " TRUE ",
				"auto-namespaces", "dex"),
			wantOK: true,
			want:   []string{"dex"},
		},
		"empty auto namespaces select all": {
			annotations: reflectorAnnotations("allowed", "true", "auto-enabled", "true",
				"auto-namespaces", ""),
			wantOK: true,
			want:   all,
		},
		"no auto namespaces select all allowed": {
			annotations: reflectorAnnotations("allowed", "true", "auto-enabled", "true",
				"allowed-namespaces", "hugo-.*"),
			wantOK: true,
			want:   []string{"hugo-blog", "hugo-wiki"},
		},
		"allowed namespaces limit auto namespaces": {
			annotations: reflectorAnnotations("allowed", "true", "auto-enabled", "true",
				"allowed-namespaces", "hugo-.*,dex", "auto-namespaces", "auth,hugo-.*"),
			wantOK: true,
			want:   []string{"hugo-blog", "hugo-wiki"},
		},
		"allowed but not auto-enabled": {
			annotations: reflectorAnnotations("allowed", "true", "auto-namespaces", "auth"),
		},
		"auto-enabled but not allowed": {
			annotations: reflectorAnnotations("auto-enabled", "true", "auto-namespaces", "auth"),
		},
		"flag neither true nor false": {
			annotations: reflectorAnnotations("allowed", "yes", "auto-enabled", "true"),
		},
		"auto-enabled false": {
			annotations: reflectorAnnotations("allowed", "true", "auto-enabled", "false"),
		},
		"no annotations": {annotations: nil},
		"invalid allowed namespaces": {
			annotations: reflectorAnnotations("allowed", "true", "auto-enabled", "true",
				"allowed-namespaces", "hugo-("),
			wantErr: annotations.ReflectorAllowedNamespaces,
		},
		"invalid auto namespaces": {
			annotations: reflectorAnnotations("allowed", "true", "auto-enabled", "true",
				"auto-namespaces", "auth,[dex"),
			wantErr: annotations.ReflectorAutoNamespaces,
		},
	}

	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, ok, err := ForReflector(tt.annotations)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ForReflector() error = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ForReflector(): %v", err)
			}
			if ok != tt.wantOK {
				t.Fatalf("ForReflector() ok = %v, want %v", ok, tt.wantOK)
			}
			if got := selected(p); !slices.Equal(got, tt.want) {
				t.Errorf("ForReflector() selects %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAllowsPull(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		annotations map[string]string
		namespace   string
		want        bool
		wantErr     bool
	}{
		"allowed everywhere": {
			annotations: reflectorAnnotations("allowed", "true"), namespace: "auth", want: true,
		},
		"allowed in any case": {
			annotations: reflectorAnnotations("allowed", "TRUE"), namespace: "auth", want: true,
		},
		"not allowed": {
			annotations: reflectorAnnotations("allowed", "false"), namespace: "auth",
		},
		"auto-enabled is no consent": {
			annotations: reflectorAnnotations("auto-enabled", "true"), namespace: "auth",
		},
		"no annotations": {annotations: nil, namespace: "auth"},
		"allowed namespace": {
			annotations: reflectorAnnotations("allowed", "true", "allowed-namespaces", "auth,hugo-.*"),
			namespace:   "hugo-blog",
			want:        true,
		},
		"namespace outside the allowed list": {
			annotations: reflectorAnnotations("allowed", "true", "allowed-namespaces", "auth,hugo-.*"),
			namespace:   "my-hugo-blog",
		},
		"invalid allowed namespaces": {
			annotations: reflectorAnnotations("allowed", "true", "allowed-namespaces", "auth,("),
			namespace:   "auth",
			wantErr:     true,
		},
	}

	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := AllowsPull(tt.annotations, tt.namespace)
			if (err != nil) != tt.wantErr {
				t.Fatalf("AllowsPull(%q) error = %v, want one: %v", tt.namespace, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("AllowsPull(%q) = %v, want %v", tt.namespace, got, tt.want)
			}
		})
	}
}

func TestIsReflectorSource(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		annotations map[string]string
		want        bool
	}{
		"allowed set, even false": {
			annotations: reflectorAnnotations("allowed", "false"), want: true,
		},
		"auto-enabled set": {
			annotations: reflectorAnnotations("auto-enabled", "true"), want: true,
		},
		"only auto namespaces": {
			annotations: reflectorAnnotations("auto-namespaces", "auth"),
		},
		"mergeflect reflect-to only": {
			annotations: map[string]string{annotations.ReflectTo: "auth"},
		},
		"no annotations": {annotations: nil},
	}

	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := IsReflectorSource(tt.annotations); got != tt.want {
				t.Errorf("IsReflectorSource(%v) = %v, want %v", tt.annotations, got, tt.want)
			}
		})
	}
}

func FuzzParsePatterns(f *testing.F) {
	f.Add("hugo-.*", "my-hugo-blog")
	f.Add("auth", "auth2")
	f.Add("auth|dex", "authdex")
	f.Add(" auth, ,dex ", "dex")
	f.Add("(?m)auth$", "auth\ndex")
	f.Add("(?i)AUTH", "auth")
	f.Add("hugo-(", "hugo-")
	f.Add(`\`, "")

	f.Fuzz(func(t *testing.T, value, name string) {
		patterns, err := ParsePatterns(value)
		if err != nil {
			return
		}
		if items := strings.Count(value, ",") + 1; len(patterns) > items {
			t.Fatalf("ParsePatterns(%q) returned %d patterns from %d items", value, len(patterns), items)
		}

		// A pattern matches a whole name or nothing of it.
		for _, re := range patterns {
			loc := re.FindStringIndex(name)
			if loc != nil && (loc[0] != 0 || loc[1] != len(name)) {
				t.Fatalf("pattern %q from %q matches %q only at %v", re, value, name, loc)
			}
		}
	})
}

func FuzzPolicy(f *testing.F) {
	f.Add("true", "true", "", "auth,dex", "hugo-.*", "env in (prod)", "auth", "prod")
	f.Add("True", "TRUE", "hugo-.*", "", "", "team=web", "hugo-blog", "dev")
	f.Add("true", "false", "(", "[", "(", "env in (", "", "")
	f.Add("yes", "true", "auth", "auth", "auth", "!env", "auth", "")

	f.Fuzz(func(t *testing.T,
		allowed, autoEnabled, allowedNamespaces, autoNamespaces, reflectTo, selector, name, env string,
	) {
		ns := namespace(name, "env", env)
		a := reflectorAnnotations("allowed", allowed, "auto-enabled", autoEnabled,
			"allowed-namespaces", allowedNamespaces, "auto-namespaces", autoNamespaces)

		// Reflector's push never reaches a namespace its pull would refuse.
		push, ok, err := ForReflector(a)
		if ok && err == nil && push.Selects(ns) {
			if pull, err := AllowsPull(a, name); err != nil || !pull {
				t.Fatalf("ForReflector(%v) selects %q, which AllowsPull refuses: %v", a, name, err)
			}
		}
		if ok && (!strings.EqualFold(strings.TrimSpace(allowed), "true") ||
			!strings.EqualFold(strings.TrimSpace(autoEnabled), "true")) {
			t.Fatalf("ForReflector(%v) reflects without both flags true", a)
		}

		// A target is reflected where its patterns or its selector choose, and nowhere else.
		both, err := ForTarget(reflectTo, selector)
		if err != nil {
			return
		}
		byPatterns, err1 := ForTarget(reflectTo, "")
		bySelector, err2 := ForTarget("", selector)
		if err1 != nil || err2 != nil {
			t.Fatalf("ForTarget(%q, %q) parses, but not each half alone: %v, %v",
				reflectTo, selector, err1, err2)
		}
		if both.Selects(ns) != (byPatterns.Selects(ns) || bySelector.Selects(ns)) {
			t.Fatalf("ForTarget(%q, %q).Selects(%q) is not patterns or selector", reflectTo, selector, name)
		}
		if both.Empty() != (byPatterns.Empty() && bySelector.Empty()) {
			t.Fatalf("ForTarget(%q, %q).Empty() = %v", reflectTo, selector, both.Empty())
		}
	})
}

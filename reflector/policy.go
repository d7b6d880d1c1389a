// Package reflector decides which namespaces receive a copy of a Secret and what that copy
// holds. It reads the mergeflect.io/reflect-to annotations of merge targets and Reflector's
// annotations of plain Secrets; it makes no API calls.
package reflector

import (
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/tazlab/mergeflect/annotations"
)

// Policy selects the namespaces a Secret is reflected into. The zero Policy selects none.
type Policy struct {
	patterns []*regexp.Regexp
	selector labels.Selector

	// allowed, when set, limits the namespaces patterns and selector may choose
	// (Reflector's reflection-allowed-namespaces).
	allowed []*regexp.Regexp
}

// Empty reports whether the policy selects no namespace at all.
func (p Policy) Empty() bool {
	return len(p.patterns) == 0 && p.selector == nil
}

// Selects reports whether a copy belongs in ns. It never selects the source's own namespace;
// the caller leaves that out.
func (p Policy) Selects(ns *corev1.Namespace) bool {
	if len(p.allowed) > 0 && !anyMatch(p.allowed, ns.Name) {
		return false
	}
	if anyMatch(p.patterns, ns.Name) {
		return true
	}
	return p.selector != nil && p.selector.Matches(labels.Set(ns.Labels))
}

// ParsePatterns parses a comma-separated list of namespace patterns. Each is a regular
// expression that must match the whole namespace name.
func ParsePatterns(value string) ([]*regexp.Regexp, error) {
	var patterns []*regexp.Regexp
	for item := range strings.SplitSeq(value, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		// Compiled alone first, so that a stray parenthesis cannot escape the anchors.
		if _, err := regexp.Compile(item); err != nil {
			return nil, fmt.Errorf("namespace pattern %q: %w", item, err)
		}
		re, err := regexp.Compile("^(?:" + item + ")$")
		if err != nil {
			return nil, fmt.Errorf("namespace pattern %q: %w", item, err)
		}
		patterns = append(patterns, re)
	}
	return patterns, nil
}

// ForTarget returns the policy of a merge target from its reflect-to and reflect-to-selector
// settings. Both empty means the target is not reflected.
func ForTarget(reflectTo, selector string) (Policy, error) {
	var p Policy
	var err error
	if p.patterns, err = ParsePatterns(reflectTo); err != nil {
		return Policy{}, fmt.Errorf("%s: %w", annotations.ReflectTo, err)
	}

	if strings.TrimSpace(selector) == "" {
		return p, nil
	}
	if p.selector, err = labels.Parse(selector); err != nil {
		return Policy{}, fmt.Errorf("%s: %w", annotations.ReflectToSelector, err)
	}
	return p, nil
}

// ForReflector returns the push policy of a Secret annotated for Reflector: reflection
// allowed and auto-enabled. An empty auto-namespaces list selects every allowed namespace,
// as Reflector does. ok is false when the Secret does not ask to be reflected.
func ForReflector(a map[string]string) (p Policy, ok bool, err error) {
	if !isTrue(a[annotations.ReflectorAllowed]) || !isTrue(a[annotations.ReflectorAutoEnabled]) {
		return Policy{}, false, nil
	}

	if p.allowed, err = ParsePatterns(a[annotations.ReflectorAllowedNamespaces]); err != nil {
		return Policy{}, false, fmt.Errorf("%s: %w", annotations.ReflectorAllowedNamespaces, err)
	}
	if p.patterns, err = ParsePatterns(a[annotations.ReflectorAutoNamespaces]); err != nil {
		return Policy{}, false, fmt.Errorf("%s: %w", annotations.ReflectorAutoNamespaces, err)
	}
	if len(p.patterns) == 0 {
		p.selector = labels.Everything()
	}
	return p, true, nil
}

// AllowsPull reports whether a Secret with annotations a lets a Secret in namespace ns copy
// its data through Reflector's reflects annotation.
func AllowsPull(a map[string]string, ns string) (bool, error) {
	if !isTrue(a[annotations.ReflectorAllowed]) {
		return false, nil
	}
	allowed, err := ParsePatterns(a[annotations.ReflectorAllowedNamespaces])
	if err != nil {
		return false, fmt.Errorf("%s: %w", annotations.ReflectorAllowedNamespaces, err)
	}
	return len(allowed) == 0 || anyMatch(allowed, ns), nil
}

// IsReflectorSource reports whether annotations a carry any of Reflector's source settings.
func IsReflectorSource(a map[string]string) bool {
	_, allowed := a[annotations.ReflectorAllowed]
	_, auto := a[annotations.ReflectorAutoEnabled]
	return allowed || auto
}

func isTrue(value string) bool {
	return strings.EqualFold(strings.TrimSpace(value), "true")
}

func anyMatch(patterns []*regexp.Regexp, name string) bool {
	for _, re := range patterns {
		if re.MatchString(name) {
			return true
		}
	}
	return false
}

package vault

import (
	"fmt"
	"slices"
	"strings"

	"github.com/robfig/cron/v3"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Ref names one value in Vault and the key it fills in a source Secret.
type Ref struct {
	// Key is the data key of the source Secret the value is stored under.
	Key string
	// Path is the secret's path including its mount, such as secret/team/app.
	Path string
	// Field is the name of the value within the secret.
	Field string
}

// ParseRefs parses the mergeflect.io/vault annotation: comma-separated
// targetKey=<mount>/<path>#<field> entries. Spaces around entries and names are allowed.
func ParseRefs(value string) ([]Ref, error) {
	var refs []Ref
	for item := range strings.SplitSeq(value, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		ref, err := parseRef(item)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(refs, func(r Ref) bool { return r.Key == ref.Key }) {
			return nil, fmt.Errorf("key %q is named twice", ref.Key)
		}
		refs = append(refs, ref)
	}

	if len(refs) == 0 {
		return nil, fmt.Errorf("no targetKey=<mount>/<path>#<field> entry in %q", value)
	}
	return refs, nil
}

func parseRef(item string) (Ref, error) {
	key, location, ok := strings.Cut(item, "=")
	if !ok {
		return Ref{}, fmt.Errorf("%q is not targetKey=<mount>/<path>#<field>", item)
	}
	path, field, ok := strings.Cut(strings.TrimSpace(location), "#")
	ref := Ref{Key: strings.TrimSpace(key), Path: strings.Trim(strings.TrimSpace(path), "/"), Field: field}

	if errs := validation.IsConfigMapKey(ref.Key); len(errs) > 0 {
		return Ref{}, fmt.Errorf("key %q: %s", ref.Key, strings.Join(errs, "; "))
	}
	if !ok || ref.Field == "" || strings.ContainsAny(ref.Field, " #") {
		return Ref{}, fmt.Errorf("%q: the location must end in #<field>", item)
	}
	if !strings.Contains(ref.Path, "/") || strings.Contains(ref.Path, "//") || strings.ContainsAny(ref.Path, " ?#") {
		return Ref{}, fmt.Errorf("%q: the location must be <mount>/<path>", item)
	}
	return ref, nil
}

// ParseSchedule parses the mergeflect.io/refresh annotation: a five-field cron expression
// or a descriptor such as @hourly or @every 15m. Empty means every hour.
func ParseSchedule(value string) (cron.Schedule, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		value = "@every 1h"
	}
	schedule, err := cron.ParseStandard(value)
	if err != nil {
		return nil, fmt.Errorf("refresh schedule %q: %w", value, err)
	}
	return schedule, nil
}

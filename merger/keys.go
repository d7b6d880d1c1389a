package merger

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Mapping takes the value of one source key and stores it under a target key.
type Mapping struct {
	Source string
	Target string
}

// ParseKeys parses the value of the mergeflect.io/keys annotation: comma-separated
// sourceKey=targetKey pairs, with spaces allowed around names. A key named twice on
// either side is an error, and so is a name that is not a valid Secret key.
func ParseKeys(value string) ([]Mapping, error) {
	var mappings []Mapping
	seenSource := map[string]bool{}
	seenTarget := map[string]bool{}

	for item := range strings.SplitSeq(value, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		source, target, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("%q is not a sourceKey=targetKey pair", item)
		}
		m := Mapping{Source: strings.TrimSpace(source), Target: strings.TrimSpace(target)}

		if err := validKey(m.Source); err != nil {
			return nil, fmt.Errorf("source key %q: %w", m.Source, err)
		}
		if err := validKey(m.Target); err != nil {
			return nil, fmt.Errorf("target key %q: %w", m.Target, err)
		}
		if seenSource[m.Source] {
			return nil, fmt.Errorf("source key %q is mapped twice", m.Source)
		}
		if seenTarget[m.Target] {
			return nil, fmt.Errorf("target key %q is named twice", m.Target)
		}
		seenSource[m.Source], seenTarget[m.Target] = true, true
		mappings = append(mappings, m)
	}

	if len(mappings) == 0 {
		return nil, fmt.Errorf("no sourceKey=targetKey pair in %q", value)
	}
	return mappings, nil
}

// validKey reports whether name may be a key of a Secret's data.
func validKey(name string) error {
	if name == "" {
		return fmt.Errorf("empty key")
	}
	if errs := validation.IsConfigMapKey(name); len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

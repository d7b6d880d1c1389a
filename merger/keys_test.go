package merger

import (
	"slices"
	"strings"
	"testing"
)

func TestParseKeys(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		value   string
		want    []Mapping
		wantErr string
	}{
		"one pair": {
			value: "value=tls.crt",
			want:  []Mapping{{Source: "value", Target: "tls.crt"}},
		},
		"pairs in written order with spaces around names": {
			value: " crt = tls.crt ,\tkey=tls.key ",
			want:  []Mapping{{Source: "crt", Target: "tls.crt"}, {Source: "key", Target: "tls.key"}},
		},
		"empty items skipped": {
			value: ",value=tls.crt,, ,",
			want:  []Mapping{{Source: "value", Target: "tls.crt"}},
		},
		"key kept under its own name": {
			value: "ca.crt=ca.crt",
			want:  []Mapping{{Source: "ca.crt", Target: "ca.crt"}},
		},
		"two keys swapped": {
			value: "a=b,b=a",
			want:  []Mapping{{Source: "a", Target: "b"}, {Source: "b", Target: "a"}},
		},
		"empty value":             {value: "", wantErr: "no sourceKey=targetKey pair"},
		"only separators":         {value: " , ,", wantErr: "no sourceKey=targetKey pair"},
		"empty source key":        {value: "=tls.crt", wantErr: `source key "": empty key`},
		"empty target key":        {value: "value= ", wantErr: `target key "": empty key`},
		"slash in source key":     {value: "tls/crt=tls.crt", wantErr: `source key "tls/crt"`},
		"space inside target key": {value: "value=tls crt", wantErr: `target key "tls crt"`},
		"second equals sign":      {value: "a=b=c", wantErr: `target key "b=c"`},
		"dot-dot target key":      {value: "value=..", wantErr: `target key ".."`},
		"target key too long": {
			value:   "value=" + strings.Repeat("k", 254),
			wantErr: "must be no more than 253 characters",
		},
		"missing equals sign": {
			value: "value=tls.crt,tls.key", wantErr: `"tls.key" is not a sourceKey=targetKey pair`,
		},
		"source key mapped twice": {
			value: "value=tls.crt,value=tls.key", wantErr: `source key "value" is mapped twice`,
		},
		"target key named twice": {
			value: "crt=tls.crt, pem=tls.crt", wantErr: `target key "tls.crt" is named twice`,
		},
	}

	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseKeys(tt.value)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseKeys(%q) = %v, %v; want error containing %q", tt.value, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseKeys(%q): %v", tt.value, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ParseKeys(%q) = %v, want %v", tt.value, got, tt.want)
			}
		})
	}
}

func FuzzParseKeys(f *testing.F) {
	for _, seed := range []string{
		"value=tls.crt",
		" crt = tls.crt , key=tls.key ",
		",,",
		"a=b=c",
		"a=b,a=c",
		"a=c,b=c",
		"=",
		"..=.",
		"tls.crt",
		"\u00e9=x",
	} {
		f.Add(seed)
	}

	f.Fuzz(func(t *testing.T, value string) {
		mappings, err := ParseKeys(value)
		if err != nil {
			if mappings != nil {
				t.Fatalf("ParseKeys(%q) returned %v along with error %v", value, mappings, err)
			}
			return
		}
		if len(mappings) == 0 {
			t.Fatalf("ParseKeys(%q) succeeded with no mapping", value)
		}

		sources, targets := map[string]bool{}, map[string]bool{}
		var pairs []string
		for _, m := range mappings {
			for _, k := range []string{m.Source, m.Target} {
				if !secretKeyName(k) {
					t.Fatalf("ParseKeys(%q) returned key %q, which a Secret cannot hold", value, k)
				}
			}
			if sources[m.Source] || targets[m.Target] {
				t.Fatalf("ParseKeys(%q) returned a key twice: %v", value, mappings)
			}
			sources[m.Source], targets[m.Target] = true, true
			pairs = append(pairs, m.Source+"="+m.Target)
		}

		// Written back in canonical form, the mappings parse to themselves.
		again, err := ParseKeys(strings.Join(pairs, ","))
		if err != nil || !slices.Equal(again, mappings) {
			t.Fatalf("ParseKeys(%q) = %v, but its canonical form parses to %v, %v",
				value, mappings, again, err)
		}
	})
}

// secretKeyName reports whether name may be a key of a Secret's data, written out from
// the API's rule rather than calling the validation ParseKeys itself uses.
func secretKeyName(name string) bool {
	if name == "" || len(name) > 253 || name == "." || strings.HasPrefix(name, "..") {
		return false
	}
	for _, r := range name {
		ok := r == '-' || r == '.' || r == '_' ||
			'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
		if !ok {
			return false
		}
	}
	return true
}

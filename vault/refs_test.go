package vault

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseRefs(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		value   string
		want    []Ref
		wantErr string
	}{
		"the seed's two paths": {
			value: "tls.crt=secret/tazlab-k8s/static/tls/wildcard/WILDCARD_CRT#value, " +
				"tls.key = secret/tazlab-k8s/static/tls/wildcard/WILDCARD_KEY#value",
			want: []Ref{
				{Key: "tls.crt", Path: "secret/tazlab-k8s/static/tls/wildcard/WILDCARD_CRT", Field: "value"},
				{Key: "tls.key", Path: "secret/tazlab-k8s/static/tls/wildcard/WILDCARD_KEY", Field: "value"},
			},
		},
		"leading and trailing slashes": {
			value: "k=/kv/app/#f",
			want:  []Ref{{Key: "k", Path: "kv/app", Field: "f"}},
		},
		"empty items are skipped": {value: ",k=kv/app#f,", want: []Ref{{Key: "k", Path: "kv/app", Field: "f"}}},
		"empty":                   {value: " ", wantErr: "no targetKey"},
		"no equals sign":          {value: "kv/app#f", wantErr: "is not targetKey"},
		"no field":                {value: "k=kv/app", wantErr: "#<field>"},
		"empty field":             {value: "k=kv/app#", wantErr: "#<field>"},
		"mount without path":      {value: "k=kv#f", wantErr: "<mount>/<path>"},
		"double slash":            {value: "k=kv//app#f", wantErr: "<mount>/<path>"},
		"invalid key":             {value: "bad key=kv/app#f", wantErr: `key "bad key"`},
		"key twice":               {value: "k=kv/a#f,k=kv/b#f", wantErr: "named twice"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseRefs(tc.value)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseRefs(%q) error = %v, want one containing %q", tc.value, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRefs(%q): %v", tc.value, err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("ParseRefs(%q) = %+v, want %+v", tc.value, got, tc.want)
			}
		})
	}
}

func TestParseSchedule(t *testing.T) {
	t.Parallel()
	from := time.Date(2026, 12, 3, 10, 30, 0, 0, time.UTC)
	tests := map[string]struct {
		value string
		next  time.Time
	}{
		"default is hourly": {value: "", next: from.Add(time.Hour)},
		"every":             {value: "@every 15m", next: from.Add(15 * time.Minute)},
		"cron":              {value: "0 3 * * *", next: time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)},
		"hourly descriptor": {value: "@hourly", next: time.Date(2026, 12, 3, 11, 0, 0, 0, time.UTC)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, err := ParseSchedule(tc.value)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Next(from); !got.Equal(tc.next) {
				t.Errorf("next run after %s = %s, want %s", from, got, tc.next)
			}
		})
	}
	if _, err := ParseSchedule("every hour"); err == nil {
		t.Error("an invalid schedule parsed")
	}
}

func FuzzParseRefs(f *testing.F) {
	for _, seed := range []string{"k=kv/a#f", "a=b/c#d, e=f/g#h", "=#", "k=/#", "k=kv/a#f#g", ",,"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, value string) {
		refs, err := ParseRefs(value)
		if err != nil {
			return
		}
		keys := map[string]bool{}
		for _, r := range refs {
			if r.Key == "" || r.Field == "" || !strings.Contains(r.Path, "/") || keys[r.Key] {
				t.Fatalf("ParseRefs(%q) accepted %+v", value, r)
			}
			keys[r.Key] = true
		}
	})
}

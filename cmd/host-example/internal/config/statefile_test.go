package config

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestStateFile(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "backup.hcl")
	for _, tc := range []struct {
		src, want, err string
	}{
		{src: `state_file = "state.json"`, want: filepath.Join(dir, "state.json")},
		{src: `state_file = "/var/lib/pagetrack/state.json"`, want: "/var/lib/pagetrack/state.json"},
		{src: `state_file = env("STATE")`, want: "/srv/state.json"},
		{src: `repository = "repo"`, want: ""},
		{src: `state_file = 3`, err: "backup.hcl:1:14: Incorrect attribute value type"},
	} {
		f, err := Parse([]byte(tc.src), name, Options{LookupEnv: func(n string) (string, bool) { return "/srv/state.json", n == "STATE" }})
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err = %v, want %q", tc.src, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.src, err)
		case f.StateFile != tc.want:
			t.Errorf("%s: StateFile = %q, want %q", tc.src, f.StateFile, tc.want)
		}
	}
}

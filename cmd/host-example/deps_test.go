package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The host imports nothing of mysqlsrc: page checks and every other fact about MySQL's files
// are the source's, behind the contract (shared). The host's own packages and their unit
// tests hold to it too. Only this package's end-to-end tests may use mysqlsrc and
// internal/sourcetest, to drive real servers and check what a restore gives.
func TestHostImportsNoMySQLSource(t *testing.T) {
	for _, args := range [][]string{
		{"list", "-deps", "./..."},
		{"list", "-deps", "-test", "./cli", "./internal/...", "./pluginhost", "./pluginhost/testdata/fakeplugin"},
	} {
		out, err := exec.Command("go", args...).Output()
		if err != nil {
			t.Fatalf("go %s: %v", strings.Join(args, " "), err)
		}
		pkgs := strings.Fields(string(out))
		if len(pkgs) < 10 || !slices.Contains(pkgs, "github.com/pagetrack/pagetrack/shared") {
			t.Fatalf("go %s lists %d packages, without shared: not the host's dependencies", strings.Join(args, " "), len(pkgs))
		}
		for _, p := range pkgs {
			if strings.HasPrefix(p, "github.com/pagetrack/pagetrack/mysqlsrc") {
				t.Errorf("go %s: the host depends on %s", strings.Join(args, " "), p)
			}
		}
	}
}

package testmysql

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/pagetrack/pagetrack/mysqlsrc/mysqld"
)

// Running mysqld --initialize costs seconds of both cores on this machine, and every test
// server needs a fresh datadir. The first server of a configuration initializes one pristine
// datadir, kept under the temporary directory; every later server of that configuration
// starts on a copy of it. A copy is exactly what --initialize would write, except for the
// server UUID, which the server generates afresh because auto.cnf is not copied.

// datadirCacheVersion changes whenever what a cached datadir holds changes.
const datadirCacheVersion = "1"

// freshDatadir puts a newly initialized datadir at datadir, for a server run with opts.Args.
func freshDatadir(ctx context.Context, bin *mysqld.Binaries, opts mysqld.Options) error {
	pristine, err := pristineDatadir(ctx, bin, opts)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(opts.DataDir), 0o750); err != nil {
		return err
	}
	// cp keeps the files' holes; auto.cnf (the server UUID) is left behind.
	if out, err := exec.CommandContext(ctx, "cp", "-a", "--sparse=always", pristine, opts.DataDir).CombinedOutput(); err != nil {
		return fmt.Errorf("copying the cached datadir %s: %v\n%s", pristine, err, out)
	}
	if err := os.Remove(filepath.Join(opts.DataDir, "auto.cnf")); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// pristineDatadir returns the cached initialized datadir for a configuration, creating it
// when missing. Concurrent test processes may both initialize one; the first rename wins.
func pristineDatadir(ctx context.Context, bin *mysqld.Binaries, opts mysqld.Options) (string, error) {
	key, err := configurationKey(bin, opts.Args)
	if err != nil {
		return "", err
	}
	root := filepath.Join(os.TempDir(), fmt.Sprintf("pagetrack-datadirs-%d", os.Geteuid()))
	dir := filepath.Join(root, key)
	if _, err := os.Stat(filepath.Join(dir, "mysql.ibd")); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return "", err
	}
	build, err := os.MkdirTemp(root, "init-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(build)
	init := opts
	init.DataDir = filepath.Join(build, "data")
	if err := bin.Initialize(ctx, init); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(build, "configuration"), []byte(strings.Join(opts.Args, "\n")+"\n"), 0o600); err != nil {
		return "", err
	}
	if err := os.Rename(init.DataDir, dir); err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, "mysql.ibd")); statErr == nil {
			return dir, nil // another process cached it first
		}
		return "", fmt.Errorf("caching the initialized datadir: %w", err)
	}
	return dir, nil
}

// configurationKey names a configuration: the server binary (path, size, modification time)
// and every option the server is initialized with.
func configurationKey(bin *mysqld.Binaries, args []string) (string, error) {
	st, err := os.Stat(bin.Mysqld)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%d\n%d\n", datadirCacheVersion, bin.Mysqld, st.Size(), st.ModTime().UnixNano())
	for _, a := range args {
		fmt.Fprintln(h, a)
	}
	return hex.EncodeToString(h.Sum(nil))[:20], nil
}

// initTimeout bounds one mysqld --initialize.
const initTimeout = 2 * time.Minute

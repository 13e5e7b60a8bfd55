package mysqld

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Keyring components cannot be installed with INSTALL COMPONENT: mysqld loads them at start-up
// from a global manifest, mysqld.my, that it looks for beside the path it was started as
// (argv[0], not resolved: through the prefix's loader that is the mysqld path given to the
// loader). component_keyring_file then reads component_keyring_file.cnf from the plugin
// directory. Both places belong to the installation and are shared by every server started from
// it, so WithKeyringFile builds a private pair instead: a directory holding a symlink to mysqld
// with its own manifest, and a plugin directory of symlinks to the installation's plugins plus
// the component's configuration. Only servers started through the returned Binaries see them.

// keyringFileManifest loads component_keyring_file from the global manifest itself (rather than
// delegating to a manifest in the datadir), so a datadir carries no keyring configuration and a
// restored copy of it is opened with whatever keyring its caller chooses.
const keyringFileManifest = `{"components":"file://component_keyring_file"}`

// KeyringFileConfig is the name of component_keyring_file's configuration in the plugin dir.
const KeyringFileConfig = "component_keyring_file.cnf"

// WithKeyringFile returns a copy of b whose servers load component_keyring_file with dataFile as
// its data file (created empty by the component when missing; keep it outside the datadir: a
// backup must not be the only place its key lives). dir, which must be new or empty, receives
// bin/mysqld (a symlink) with its manifest and plugin/ with the configuration.
func (b *Binaries) WithKeyringFile(dir, dataFile string) (*Binaries, error) {
	if b.PluginDir == "" {
		return nil, fmt.Errorf("MySQL at %s has no plugin directory, so component_keyring_file cannot be loaded", b.BaseDir)
	}
	if _, err := os.Stat(filepath.Join(b.PluginDir, "component_keyring_file.so")); err != nil {
		return nil, fmt.Errorf("this MySQL does not ship component_keyring_file: %w", err)
	}
	dataFile, err := filepath.Abs(dataFile)
	if err != nil {
		return nil, err
	}
	bin, plugins := filepath.Join(dir, "bin"), filepath.Join(dir, "plugin")
	for _, d := range []string{bin, plugins} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, err
		}
	}
	out := *b
	out.Mysqld, out.PluginDir = filepath.Join(bin, "mysqld"), plugins
	if err := os.Symlink(b.Mysqld, out.Mysqld); err != nil {
		return nil, err
	}
	if err := os.WriteFile(out.Mysqld+".my", []byte(keyringFileManifest), 0o444); err != nil {
		return nil, err
	}
	if err := linkEntries(b.PluginDir, plugins); err != nil {
		return nil, err
	}
	config, err := json.Marshal(map[string]any{"path": dataFile, "read_only": false})
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(plugins, KeyringFileConfig), config, 0o640); err != nil {
		return nil, err
	}
	return &out, nil
}

// linkEntries symlinks every entry of from into to, except a keyring configuration the
// installation may have: writing ours through a link to it would change every server's.
func linkEntries(from, to string) error {
	entries, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == KeyringFileConfig {
			continue
		}
		if err := os.Symlink(filepath.Join(from, e.Name()), filepath.Join(to, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

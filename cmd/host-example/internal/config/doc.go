// Package config reads host-example's HCL configuration file.
//
// A configuration names where backups go, where source plugins live and which servers to back
// up:
//
//	repository = "/backups/repo"                     # optional
//	state_file = "/var/lib/pagetrack/state.json"     # optional: backup --stdout's bases
//	plugin "mysql" { path = "bin/pagetrack-mysql" }  # optional
//	source "mysql" "primary" {
//	  dsn     = env("PAGETRACK_DSN")
//	  datadir = "/var/lib/mysql"
//	}
//	retention { keep_last = 7  keep_daily = 14 }     # optional: what `forget` keeps
//
// The body of a source block belongs to the plugin: Load keeps it undecoded, and
// Source.Decode decodes it with the Schema the plugin publishes, so that every mistake is
// reported against the user's own file, line and column. Relative paths (repository,
// state_file, plugin path) are taken relative to the directory that holds the configuration
// file, so a config works the same from cron as from a shell.
//
// Expressions may call env("NAME"), which yields the value of an environment variable and is
// an error when the variable is unset; it keeps secrets such as passwords out of the file.
package config

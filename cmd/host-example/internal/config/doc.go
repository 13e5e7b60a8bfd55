// Package config reads host-example's HCL configuration file.
//
// A configuration names where backups go, where source plugins live and which servers to back
// up:
//
//	repository = "/backups/repo"                     # optional
//	plugin "mysql" { path = "bin/pagetrack-mysql" }  # optional
//	source "mysql" "primary" {
//	  dsn     = env("PAGETRACK_DSN")
//	  datadir = "/var/lib/mysql"
//	}
//
// The body of a source block belongs to the plugin: Load keeps it undecoded, and
// Source.Decode decodes it with the Schema the plugin publishes, so that every mistake is
// reported against the user's own file, line and column. Relative paths (repository, plugin
// path) are taken relative to the directory that holds the configuration file, so a config
// works the same from cron as from a shell.
//
// Expressions may call env("NAME"), which yields the value of an environment variable and is
// an error when the variable is unset; it keeps secrets such as passwords out of the file.
package config

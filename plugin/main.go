// Command pagetrack-mysql is the pagetrack source plugin for MySQL. A host launches it through
// hashicorp/go-plugin; run by hand it only says so.
package main

import (
	"os"

	"github.com/hashicorp/go-hclog"

	"github.com/pagetrack/pagetrack/mysqlsrc"
	"github.com/pagetrack/pagetrack/shared"
)

func main() {
	// stdout is go-plugin's channel to the host: log to stderr, as JSON so the host relays
	// each line at its level.
	logger := hclog.New(&hclog.LoggerOptions{
		Name:       "pagetrack-mysql",
		Output:     os.Stderr,
		JSONFormat: true,
	})
	shared.Serve(mysqlsrc.New(logger), logger)
}

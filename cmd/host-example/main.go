// Command host-example is a backup host for pagetrack source plugins: it takes hot physical
// backups through a plugin (pagetrack-mysql), stores them in a repository and restores them.
// Run "host-example --help" for the commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/pagetrack/pagetrack/cmd/host-example/pluginhost"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := pluginhost.Run(ctx, "", os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

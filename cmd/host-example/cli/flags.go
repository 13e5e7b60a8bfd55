package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// usageError is a mistake on the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// errHelp asks Run to print the command's help on stdout and succeed.
var errHelp = errors.New("help requested")

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // Run prints usage and errors itself
	fs.Usage = func() {}
	return fs
}

// parseGlobal parses the flags before the command name; it stops at the first non-flag.
func parseGlobal(fs *flag.FlagSet, args []string) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errHelp
		}
		return nil, usageErrorf("%v", err)
	}
	return fs.Args(), nil
}

// parseArgs parses a command's flags, which may come before, between or after its positional
// arguments ("restore ID --target DIR"); "--" ends the flags. It returns the positional
// arguments.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, usageErrorf("%v", err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// stringFlag registers one string flag under several names (-r and --repo).
func stringFlag(fs *flag.FlagSet, p *string, names ...string) {
	for _, n := range names {
		fs.StringVar(p, n, *p, "")
	}
}

func boolFlag(fs *flag.FlagSet, p *bool, names ...string) {
	for _, n := range names {
		fs.BoolVar(p, n, *p, "")
	}
}

// flagSet returns a command's flag set, with the flags every command accepts (-v).
func (e *env) flagSet(name string) *flag.FlagSet {
	fs := newFlagSet(name)
	boolFlag(fs, &e.verbose, "v", "verbose")
	return fs
}

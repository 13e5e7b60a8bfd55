package cli

import "io"

// SetStdin makes restore --from - read r until the returned function is called.
func SetStdin(r io.Reader) (restore func()) {
	old := stdin
	stdin = r
	return func() { stdin = old }
}

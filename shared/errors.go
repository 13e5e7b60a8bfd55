package shared

import (
	"errors"
	"strings"
)

// Error kinds that cross the plugin boundary. The gRPC adapters carry them as status codes
// (InvalidArgument, FailedPrecondition, DataLoss for ErrNoTrailer and ErrBadStream,
// Unimplemented for ErrUnsupported, Unavailable) and restore them on the host side, so errors.Is works the same in process and
// out of process.
var (
	// ErrInvalidConfig: the configuration or request is wrong; fix it and retry.
	ErrInvalidConfig = errors.New("invalid configuration")
	// ErrPrecondition: the server or the environment is not in a state the operation needs
	// (missing privilege, wrong datadir, non-empty restore target, …). The message names the fix.
	ErrPrecondition = errors.New("precondition failed")
	// ErrPluginShutdown: the plugin process is gone.
	ErrPluginShutdown = errors.New("plugin process is gone")
)

// KindError is an error of one of the kinds above with its own message.
type KindError struct {
	Kind error
	Msg  string
}

func (e *KindError) Error() string { return e.Msg }
func (e *KindError) Unwrap() error { return e.Kind }

// Errorf-style helpers keep call sites short.
func InvalidConfig(msg string) error { return &KindError{Kind: ErrInvalidConfig, Msg: msg} }
func Precondition(msg string) error  { return &KindError{Kind: ErrPrecondition, Msg: msg} }

// Redact replaces every secret (and the password part of DSN-like secrets,
// user:password@…) in msg with "[redacted]". Empty secrets are ignored.
func Redact(msg string, secrets ...string) string {
	for _, s := range secrets {
		for _, part := range secretParts(s) {
			if len(part) >= 3 {
				msg = strings.ReplaceAll(msg, part, "[redacted]")
			}
		}
	}
	return msg
}

func secretParts(s string) []string {
	parts := []string{s}
	if at := strings.LastIndex(s, "@"); at > 0 {
		if colon := strings.Index(s[:at], ":"); colon >= 0 && colon+1 < at {
			parts = append(parts, s[colon+1:at])
		}
	}
	return parts
}

// Secrets returns the values of cfg's sensitive attributes.
func (s *Schema) Secrets(cfg Config) []string {
	var out []string
	for _, a := range s.Attributes {
		if v, ok := cfg[a.Name].(string); ok && a.Sensitive && v != "" {
			out = append(out, v)
		}
	}
	return out
}

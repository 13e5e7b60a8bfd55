package pluginhost

import "time"

// SetTimeouts shortens the handshake and kill timeouts for a test; the returned function
// restores them.
func SetTimeouts(start, kill time.Duration) (restore func()) {
	oldStart, oldKill := startTimeout, killTimeout
	startTimeout, killTimeout = start, kill
	return func() { startTimeout, killTimeout = oldStart, oldKill }
}

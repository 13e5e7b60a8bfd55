package proctest_test

import (
	"os/exec"
	"testing"
	"time"

	"github.com/pagetrack/pagetrack/internal/proctest"
)

// TestWaitExited: WaitExited tells a running process from one that ended.
func TestWaitExited(t *testing.T) {
	cmd := exec.Command("sleep", "100")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	if proctest.WaitExited(cmd.Process.Pid, 20*time.Millisecond) {
		t.Error("a running process counts as ended")
	}
	cmd.Process.Kill()
	if !proctest.WaitExited(cmd.Process.Pid, 5*time.Second) {
		t.Error("a killed process counts as running")
	}
}

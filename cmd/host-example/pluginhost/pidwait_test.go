package pluginhost_test

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// sysPidfdOpen is pidfd_open(2)'s number, the same on every Linux architecture.
const sysPidfdOpen = 434

// waitExited waits at most d for process pid to end and reports whether it did. A pidfd
// becomes readable when its process has terminated, so this waits for the event itself: a
// process sent SIGKILL a moment ago may need its turn on a busy CPU to finish dying.
func waitExited(pid int, d time.Duration) bool {
	fd, _, errno := syscall.Syscall(sysPidfdOpen, uintptr(pid), 0, 0)
	if errno == syscall.ESRCH {
		return true
	}
	if errno != 0 {
		return false
	}
	defer syscall.Close(int(fd))
	var set syscall.FdSet
	set.Bits[fd/64] |= 1 << (fd % 64)
	tv := syscall.NsecToTimeval(d.Nanoseconds())
	n, err := syscall.Select(int(fd)+1, &set, nil, nil, &tv)
	return err == nil && n == 1
}

// TestWaitExited: waitExited tells a running process from one that ended.
func TestWaitExited(t *testing.T) {
	cmd := exec.Command("sleep", "100")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	if waitExited(cmd.Process.Pid, 20*time.Millisecond) {
		t.Error("a running process counts as ended")
	}
	cmd.Process.Kill()
	if !waitExited(cmd.Process.Pid, 5*time.Second) {
		t.Error("a killed process counts as running")
	}
}

// Package proctest holds test support for processes a test starts and kills.
package proctest

import (
	"syscall"
	"time"
)

// sysPidfdOpen is pidfd_open(2)'s number, the same on every Linux architecture.
const sysPidfdOpen = 434

// WaitExited waits at most d for process pid to end and reports whether it did. A pidfd
// becomes readable when its process has terminated, so this waits for the event itself: a
// process sent SIGKILL a moment ago may need its turn on a busy CPU to finish dying.
func WaitExited(pid int, d time.Duration) bool {
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

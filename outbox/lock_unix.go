//go:build unix

package outbox

import (
	"os"
	"syscall"
)

// lockMailer takes the exclusive mailer lock of a database (a file beside
// it) without waiting. While a process holds it, no other paylinks process
// is sending that database's email; the kernel releases it when the
// process ends, however it ends. ok is false when another process holds it.
func lockMailer(path string) (release func(), ok bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if err == syscall.EWOULDBLOCK {
			return nil, false, nil
		}
		return nil, false, err
	}
	return func() { f.Close() }, true, nil
}

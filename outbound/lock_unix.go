//go:build unix

package outbound

import (
	"os"
	"syscall"
)

// canLock says whether this platform has the delivery lock.
const canLock = true

// lockDelivery takes the exclusive delivery lock of a database (a file
// beside it) without waiting, as the mailer takes its own
// (outbox/lock_unix.go). While a process holds it, no other paylinks
// process delivers that database's outbound webhooks; the kernel releases
// it when the process ends, however it ends. ok is false when another
// process holds it.
func lockDelivery(path string) (release func(), ok bool, err error) {
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

//go:build unix

// Package filelock takes a process-wide exclusive lock on a file without
// waiting: the mailer and the outbound webhook worker each hold one beside
// the database, so that one paylinks process on a database sends its email
// and delivers its webhooks (docs/architecture.md, docs/operations.md).
package filelock

import (
	"errors"
	"os"
	"syscall"
)

// Supported says whether this platform has the lock.
const Supported = true

// TryLock takes the exclusive lock of path (created if missing) without
// waiting. While a process holds it, TryLock in any other process answers
// ok false; the kernel releases it when the holder ends, however it ends,
// or when release is called.
func TryLock(path string) (release func(), ok bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, err
	}
	return func() { f.Close() }, true, nil
}

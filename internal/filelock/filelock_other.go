//go:build !unix

// Package filelock: see filelock_unix.go.
package filelock

// Supported says whether this platform has the lock: here it has not.
const Supported = false

// TryLock cannot tell here whether another process holds the lock: it
// answers ok false, and callers fall back on their leases.
func TryLock(string) (release func(), ok bool, err error) { return nil, false, nil }

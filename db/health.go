package db

import (
	"context"
	"errors"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrStorage is wrapped by a write the disk refused: it is full, the file
// is read-only, or the disk reported an I/O error. Nothing of that write
// was saved; trying again once the disk accepts writes is safe.
var ErrStorage = errors.New("the database cannot accept writes")

// StorageError is a write refused by the disk, with the reason in staff's
// words ("the disk is full").
type StorageError struct {
	Reason string
	Err    error
}

func (e *StorageError) Error() string {
	return "database write failed: " + e.Reason + ": " + e.Err.Error()
}

// Is makes errors.Is(err, ErrStorage) true.
func (e *StorageError) Is(target error) bool { return target == ErrStorage }

func (e *StorageError) Unwrap() error { return e.Err }

// StorageFaults are the storage faults a write can meet: a short name (a
// metrics label) and the reason in staff's words.
var StorageFaults = []struct{ Name, Reason string }{
	{"disk_full", "the disk is full"},
	{"read_only", "the database file is read-only"},
	{"io_error", "the disk reported an input/output error"},
	{"cannot_open", "the database file cannot be opened"},
	{"damaged", "the database file is damaged"},
}

// storageReason names the storage fault behind err, or "" when err is no
// storage fault (a constraint, a busy database, a cancelled context).
func storageReason(err error) string {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return ""
	}
	switch se.Code() & 0xff { // the primary result code
	case sqlite3.SQLITE_FULL:
		return StorageFaults[0].Reason
	case sqlite3.SQLITE_READONLY:
		return StorageFaults[1].Reason
	case sqlite3.SQLITE_IOERR:
		return StorageFaults[2].Reason
	case sqlite3.SQLITE_CANTOPEN:
		return StorageFaults[3].Reason
	case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
		return StorageFaults[4].Reason
	}
	return ""
}

// writeHealth is what the Store knows of its last writes: whether the
// last one failed for a storage reason, why, and since when.
type writeHealth struct {
	mu     sync.Mutex
	reason string
	since  time.Time
	lastOK time.Time // the last write that committed
}

// noteWrite records the outcome of a write transaction and returns err,
// wrapped in a *StorageError when the disk refused it. A successful write
// clears a recorded fault.
func (s *Store) noteWrite(err error) error {
	h := &s.health
	if err == nil {
		now := time.Now()
		h.mu.Lock()
		h.reason, h.lastOK = "", now
		h.mu.Unlock()
		return nil
	}
	reason := storageReason(err)
	if reason == "" {
		return err
	}
	h.mu.Lock()
	if h.reason == "" {
		h.since = s.Now().UTC()
	}
	h.reason = reason
	h.mu.Unlock()
	var already *StorageError
	if errors.As(err, &already) {
		return err
	}
	return &StorageError{Reason: reason, Err: err}
}

// WriteFault says why the database cannot accept writes, and since when,
// if the last write failed for a storage reason; "" once a write succeeds.
func (s *Store) WriteFault() (reason string, since time.Time) {
	s.health.mu.Lock()
	defer s.health.mu.Unlock()
	return s.health.reason, s.health.since
}

// LastWrite is when a write last committed (zero before the first).
func (s *Store) LastWrite() time.Time {
	s.health.mu.Lock()
	defer s.health.mu.Unlock()
	return s.health.lastOK
}

// ProbeWrite makes one tiny write (a row of its own in settings, which
// nothing else reads), so readiness knows the disk takes writes now, and a
// recorded fault clears as soon as it does.
func (s *Store) ProbeWrite(ctx context.Context) error {
	return s.withTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES ('write_probe', '{}', ?)
			ON CONFLICT (key) DO UPDATE SET updated_at = excluded.updated_at`, ms(tx.now))
		return err
	})
}

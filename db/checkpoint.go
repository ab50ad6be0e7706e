package db

// WAL checkpoints. In WAL mode every commit appends to <db>-wal; a
// checkpoint copies those pages back into the database file, and the next
// writer starts the WAL again from its beginning only when the whole WAL
// was copied and no reader still reads from it. Readers that overlap
// without a pause (a busy office) keep that moment from coming, so a
// PASSIVE checkpoint (SQLite's automatic one) copies the pages but the file
// never shrinks: 1.26 GB in a minute of the load test (docs/performance.md).
//
// CheckpointWAL is what the checkpoint job runs: PASSIVE first, which
// never waits for anyone, then, while the WAL file is over its limit,
// TRUNCATE, which waits (at most truncateWait, on a connection of its own)
// for the readers of older snapshots to finish, copies what is left and
// cuts the file to zero. New writers wait behind a TRUNCATE in progress,
// which is why its wait is short and why reads are kept short (exports
// and the audit export read in keyset chunks, each its own statement).

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// Checkpoint modes CheckpointWAL runs.
const (
	CheckpointPassive  = "passive"
	CheckpointTruncate = "truncate"
)

// truncateWait bounds how long a TRUNCATE checkpoint waits for readers
// and the writer (its connection's busy_timeout); writers wait behind it
// meanwhile. Past it the checkpoint reports busy and the job tries again.
const truncateWait = 250 * time.Millisecond

// DefaultWALLimit is the WAL size past which the checkpoint job truncates.
const DefaultWALLimit = 32 << 20

// CheckpointResult is one checkpoint's outcome.
type CheckpointResult struct {
	Mode string // CheckpointPassive or CheckpointTruncate
	// Busy: it could not finish (a reader or the writer was in the way);
	// the pages it did copy are copied.
	Busy bool
	// WALPages is the WAL's length in pages; Checkpointed how many of them
	// are now in the database file.
	WALPages, Checkpointed int
}

// WALSize is the size of the database's WAL file in bytes (0 when there
// is none).
func (s *Store) WALSize() (int64, error) {
	fi, err := os.Stat(s.path + "-wal")
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Checkpoint runs one checkpoint in mode on the checkpoint connection.
func (s *Store) Checkpoint(ctx context.Context, mode string) (CheckpointResult, error) {
	var pragma string
	switch mode {
	case CheckpointPassive:
		pragma = "PRAGMA wal_checkpoint(PASSIVE)"
	case CheckpointTruncate:
		pragma = "PRAGMA wal_checkpoint(TRUNCATE)"
	default:
		return CheckpointResult{}, fmt.Errorf("checkpoint: unknown mode %q", mode)
	}
	r := CheckpointResult{Mode: mode}
	var busy int
	if err := s.ckpt.QueryRowContext(ctx, pragma).Scan(&busy, &r.WALPages, &r.Checkpointed); err != nil {
		return r, fmt.Errorf("checkpoint (%s): %w", mode, err)
	}
	r.Busy = busy != 0
	return r, nil
}

// CheckpointWAL copies the WAL into the database (PASSIVE), then, if the
// WAL file is larger than limit bytes, truncates it (TRUNCATE). It returns
// each checkpoint it ran, and the WAL's size after them.
func (s *Store) CheckpointWAL(ctx context.Context, limit int64) ([]CheckpointResult, int64, error) {
	if limit <= 0 {
		limit = DefaultWALLimit
	}
	var out []CheckpointResult
	r, err := s.Checkpoint(ctx, CheckpointPassive)
	if err != nil {
		return out, 0, err
	}
	out = append(out, r)
	size, err := s.WALSize()
	if err != nil || size <= limit {
		return out, size, err
	}
	r, err = s.Checkpoint(ctx, CheckpointTruncate)
	if err != nil {
		return out, size, err
	}
	out = append(out, r)
	size, err = s.WALSize()
	return out, size, err
}

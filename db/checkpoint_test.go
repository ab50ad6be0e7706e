package db

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestWALStaysBoundedUnderOverlappingReaders writes steadily while
// readers overlap without a pause (so the WAL is never free to start
// again by itself) and the checkpoint job's work (CheckpointWAL) runs
// beside them: the WAL file ends under its limit although far more than
// the limit was written through it.
func TestWALStaysBoundedUnderOverlappingReaders(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "wal.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.write.ExecContext(ctx, "CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	const limit = 1 << 20 // 1 MiB
	const written = 16 << 20

	stop := make(chan struct{})
	var wg sync.WaitGroup
	// Four readers, each starting its next read as soon as the last ends,
	// their reads overlapping: some reader always holds a snapshot.
	var reads atomic.Int64
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				var n, sum int64
				if err := s.read.QueryRowContext(ctx, "SELECT count(*), COALESCE(sum(length(b)), 0) FROM blobs").Scan(&n, &sum); err != nil {
					t.Error(err)
					return
				}
				reads.Add(1)
			}
		})
	}
	// The checkpoint job, run as often as the test can.
	var truncated atomic.Int64
	ckptDone := make(chan struct{})
	go func() {
		defer close(ckptDone)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			res, _, err := s.CheckpointWAL(ctx, limit)
			if err != nil {
				t.Error(err)
				return
			}
			for _, r := range res {
				if r.Mode == CheckpointTruncate && !r.Busy {
					truncated.Add(1)
				}
			}
		}
	}()
	// The writer: 16 MiB in 16 KiB rows, 8 rows a transaction.
	row := make([]byte, 16<<10)
	for i := 0; i < written/len(row); i += 8 {
		tx, err := s.write.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for j := range 8 {
			rand.Read(row)
			if _, err := tx.ExecContext(ctx, "INSERT INTO blobs (id, b) VALUES (?, ?)", i+j+1, row); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	// The last checkpoint runs with the readers still reading.
	res, size, err := s.CheckpointWAL(ctx, limit)
	close(stop)
	wg.Wait()
	<-ckptDone
	if err != nil {
		t.Fatal(err)
	}
	if size > limit {
		t.Errorf("WAL is %d bytes at the end (checkpoints %+v), want at most the %d-byte limit", size, res, limit)
	}
	if truncated.Load() == 0 && len(res) < 2 {
		t.Errorf("the WAL never went over its limit: the test wrote too little to show anything")
	}
	t.Logf("%d reads, %d truncations while %d MiB were written; WAL %d bytes at the end", reads.Load(), truncated.Load(), written>>20, size)
}

// TestCheckpointWithoutWAL: a database that has no WAL file yet reports
// 0 bytes.
func TestCheckpointWithoutWAL(t *testing.T) {
	s := OpenTestStore(t)
	if _, _, err := s.CheckpointWAL(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Checkpoint(context.Background(), "full"); err == nil {
		t.Error("an unknown mode was accepted")
	}
}

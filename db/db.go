// Package db is paylinks' storage: one SQLite file opened through
// modernc.org/sqlite with a single writer connection and a separate read
// pool, hand-written SQL, migrations and the sentinel errors callers map to
// HTTP statuses. It imports nothing from the web layer.
package db

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Sentinel errors. Handlers map them to statuses in one table.
var (
	// ErrNotFound means the row asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a unique constraint refused the write.
	ErrConflict = errors.New("conflict")
)

// MinSQLiteVersion is the oldest SQLite paylinks runs on: 3.7.0 to 3.51.2
// carry the WAL-reset corruption bug (sqlite.org/wal.html#walresetbug).
const MinSQLiteVersion = "3.51.3"

// Store wraps the writer and reader pools.
type Store struct {
	write *sql.DB
	read  *sql.DB
	ckpt  *sql.DB // one connection for WAL checkpoints (db/checkpoint.go)
	path  string
	// Now is the clock every write uses; tests replace it.
	Now func() time.Time

	trigrams trigramStats // substring search: trigram document counts
	tierCap  int          // search tier cap; 0 = defaultTierCap (tests lower it)
	// substringPath is the substring tier's way: substringAuto, or one
	// forced by tests (db/search_tiers.go).
	substringPath int
	userList      userList // ListUsers' last answer (db/users.go)

	stmtMu sync.Mutex
	stmts  map[stmtKey]*sql.Stmt // see prepared

	health writeHealth // the last write's storage fault, if any (WriteFault)
	// leasePrefix starts every outbox lease this Store takes: it names the
	// process, so a restart can tell a dead process's leases from its own
	// (ReleaseDeadLeases).
	leasePrefix string
}

// pragmas apply to every pooled connection because they live in the DSN.
// busy_timeout comes first so the others can wait for a lock.
// journal_size_limit: a WAL that a checkpoint has reset is cut back to
// 32 MiB rather than kept at its largest (db/checkpoint.go).
const pragmas = "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)" +
	"&_pragma=journal_size_limit(33554432)"

// DSN returns the data source name for path; readOnly adds query_only.
func DSN(path string, readOnly bool) string {
	u := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + pragmas
	if readOnly {
		// Readers: query_only, a 16 MiB page cache each and memory-mapped
		// reads (no pread per page), for searches and exports over big tables.
		// The map covers up to 2 GiB (SQLite's ceiling; a million links take
		// 1.4 GiB): address space only, the kernel's page cache backs it.
		return u + "&_pragma=query_only(1)&_pragma=cache_size(-16384)&_pragma=mmap_size(2147418112)"
	}
	// The writer checkpoints by itself only past 16,384 pages (64 MiB of
	// 4 KiB pages), as a fallback: the checkpoint job (db/checkpoint.go)
	// does it on its own connection, off the commit path of every write.
	return u + "&_pragma=wal_autocheckpoint(16384)&_txlock=immediate"
}

// checkpointDSN is the checkpoint connection's: the writer's settings,
// but a short busy_timeout, since a checkpoint that must wait for readers
// (TRUNCATE) holds new writers back while it waits.
func checkpointDSN(path string) string {
	return strings.Replace(DSN(path, false), "busy_timeout(5000)", "busy_timeout("+strconv.Itoa(int(truncateWait/time.Millisecond))+")", 1)
}

// Open opens (creating if needed) the database at path, checks the SQLite
// version and that the file is writable. It does not migrate.
func Open(ctx context.Context, path string) (*Store, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create database directory: %w", err)
		}
	}
	w, err := sql.Open("sqlite", DSN(path, false))
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	r, err := sql.Open("sqlite", DSN(path, true))
	if err != nil {
		w.Close()
		return nil, err
	}
	// Eight readers at least (docs/security.md DB-1): a few slow reads (a broad
	// search, the dashboard) must not queue every quick page behind them.
	n := max(8, 2*runtime.NumCPU())
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	r.SetConnMaxIdleTime(5 * time.Minute)
	c, err := sql.Open("sqlite", checkpointDSN(path))
	if err != nil {
		w.Close()
		r.Close()
		return nil, err
	}
	c.SetMaxOpenConns(1)
	c.SetMaxIdleConns(1)
	s := &Store{write: w, read: r, ckpt: c, path: path, Now: time.Now, leasePrefix: rand.Text()[:8] + "."}
	if err := s.check(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) check(ctx context.Context) error {
	var v string
	if err := s.write.QueryRowContext(ctx, "SELECT sqlite_version()").Scan(&v); err != nil {
		return fmt.Errorf("open database %s: %w", s.path, err)
	}
	if !VersionAtLeast(v, MinSQLiteVersion) {
		return fmt.Errorf("SQLite %s is older than %s (WAL-reset bug); refusing to start", v, MinSQLiteVersion)
	}
	// A read-only file or directory must fail loudly here, not per request.
	if _, err := s.write.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT"); err != nil {
		return fmt.Errorf("database %s is not writable: %w", s.path, err)
	}
	if _, err := s.write.ExecContext(ctx, "UPDATE schema_migrations SET applied_at = applied_at WHERE 0"); err != nil {
		return fmt.Errorf("database %s is not writable: %w", s.path, err)
	}
	return nil
}

// VersionAtLeast compares dotted numeric versions.
func VersionAtLeast(have, want string) bool {
	h, w := strings.Split(have, "."), strings.Split(want, ".")
	for i := 0; i < max(len(h), len(w)); i++ {
		var a, b int
		if i < len(h) {
			a, _ = strconv.Atoi(h[i])
		}
		if i < len(w) {
			b, _ = strconv.Atoi(w[i])
		}
		if a != b {
			return a > b
		}
	}
	return true
}

// Close closes both pools.
func (s *Store) Close() error {
	s.stmtMu.Lock()
	var errs []error
	for _, st := range s.stmts {
		errs = append(errs, st.Close())
	}
	s.stmts = nil
	s.stmtMu.Unlock()
	return errors.Join(append(errs, s.read.Close(), s.ckpt.Close(), s.write.Close())...)
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Ping checks that the database answers a read, for /healthz.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	return s.read.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// mapErr turns driver errors into the package's sentinels.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %w", ErrConflict, err)
		}
	}
	return err
}

// ms converts a time to the unix milliseconds stored in INTEGER columns.
func ms(t time.Time) int64 { return t.UnixMilli() }

// fromMS converts stored unix milliseconds back to a UTC time.
func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// nullMS converts a nullable column.
func nullMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMS(v.Int64)
}

// optMS stores the zero time as NULL.
func optMS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return ms(t)
}

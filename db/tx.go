// Write transactions. Every write goes through the Store's one writer
// connection (the write pool holds a single connection), so writes are
// serialised here as well as by SQLite. A transaction is begun IMMEDIATE
// (_txlock=immediate in DSN): BeginTx takes the write lock at once, waiting
// up to busy_timeout, rather than failing to upgrade at the first write.
// withTx runs a function in one such transaction and commits it; the Tx it
// hands over carries now, the Store's clock read once at the start, so
// every row it writes bears the same time (a WebhookTx restamps it per
// delivery). Nothing may call the network while a transaction is open: it
// holds the only writer, and every other write waits for it. Hot statements
// are prepared once: Store.prepared caches them on a pool (a writer
// statement must be prepared before its transaction begins), and a wtx
// prepares each of its statements once per transaction, reusing a
// WebhookWriter's.

package db

import (
	"context"
	"database/sql"
	"time"
)

// Tx is a write transaction carrying the time of the change.
type Tx struct {
	*sql.Tx
	now time.Time
}

// Now is the transaction's timestamp.
func (tx *Tx) Now() time.Time { return tx.now }

// withTx runs fn in one IMMEDIATE write transaction and commits it. Never
// call the network from fn. A write the disk refuses comes back as a
// *StorageError and is remembered until a write succeeds (WriteFault).
func (s *Store) withTx(ctx context.Context, fn func(*Tx) error) error {
	sqlTx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return s.noteWrite(mapErr(err))
	}
	defer sqlTx.Rollback()
	tx := &Tx{Tx: sqlTx, now: s.Now().UTC()}
	if err := fn(tx); err != nil {
		return s.noteWrite(err)
	}
	return s.noteWrite(mapErr(sqlTx.Commit()))
}

type stmtKey struct {
	write bool
	query string
}

// prepared returns q prepared once on the writer (write) or reader pool,
// for the hottest statements: SQLite parses a statement on every call
// otherwise, and an INSERT into links compiles its search triggers with it
// (docs/performance.md). A writer statement is used in a
// transaction through Tx.StmtContext, which reuses it on the one writer
// connection; call prepared before the transaction, never inside it (the
// writer's one connection is then taken, and preparing would wait for it).
func (s *Store) prepared(ctx context.Context, write bool, q string) (*sql.Stmt, error) {
	k := stmtKey{write, q}
	s.stmtMu.Lock()
	st, ok := s.stmts[k]
	s.stmtMu.Unlock()
	if ok {
		return st, nil
	}
	// Prepared outside the lock: a writer statement waits for the writer's
	// connection, and must not hold up reads of statements already here.
	pool := s.read
	if write {
		pool = s.write
	}
	st, err := pool.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if first, ok := s.stmts[k]; ok { // another caller prepared it meanwhile
		st.Close()
		return first, nil
	}
	if s.stmts == nil {
		s.stmts = map[stmtKey]*sql.Stmt{}
	}
	s.stmts[k] = st
	return st, nil
}

// wtx is a write transaction that prepares each statement once: a batch of
// deliveries runs the same few statements for each, and SQLite parsing a
// statement costs about as much as running it (docs/performance.md).
// Statements a WebhookWriter
// prepared on the writer connection are reused as they are; the others are
// prepared on first use and close with the transaction.
type wtx struct {
	*Tx
	ctx      context.Context
	stmts    map[string]*sql.Stmt // this transaction's
	prepared map[string]*sql.Stmt // a WebhookWriter's, prepared on the writer connection
}

func newWTx(ctx context.Context, tx *Tx) *wtx {
	return &wtx{Tx: tx, ctx: ctx, stmts: map[string]*sql.Stmt{}}
}

func (w *wtx) prepare(q string) (*sql.Stmt, error) {
	if st, ok := w.stmts[q]; ok {
		return st, nil
	}
	var st *sql.Stmt
	if p, ok := w.prepared[q]; ok {
		st = w.Tx.StmtContext(w.ctx, p) // reuses p's statement on this connection
	} else {
		var err error
		if st, err = w.Tx.PrepareContext(w.ctx, q); err != nil {
			return nil, err
		}
	}
	w.stmts[q] = st
	return st, nil
}

func (w *wtx) exec(q string, args ...any) (sql.Result, error) {
	st, err := w.prepare(q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(w.ctx, args...)
}

func (w *wtx) query(q string, args ...any) (*sql.Rows, error) {
	st, err := w.prepare(q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(w.ctx, args...)
}

// row is QueryRow through the statement cache; a failed prepare surfaces
// from Scan.
func (w *wtx) row(q string, args ...any) rowResult {
	st, err := w.prepare(q)
	if err != nil {
		return rowResult{err: err}
	}
	return rowResult{row: st.QueryRowContext(w.ctx, args...)}
}

type rowResult struct {
	row *sql.Row
	err error
}

func (r rowResult) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	return r.row.Scan(dest...)
}

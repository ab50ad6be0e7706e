package db

import (
	"cmp"
	"context"
	"database/sql"
	"strings"
	"sync"
	"time"
)

// AuditEntry is one line of the append-only audit log.
type AuditEntry struct {
	ID         int64
	At         time.Time
	ActorID    int64 // 0 for anonymous or system actions
	ActorEmail string
	Action     string // e.g. "login", "user.create"
	Target     string // e.g. "user:12"
	Outcome    string // "ok", "failed", "denied", "locked"
	IP         string
	RequestID  string
	Details    string
	// Hash chains the entry to the one before it (db/audit_chain.go); set
	// when read, ignored when written.
	Hash string
}

// clean escapes CR and LF so one entry is always one line when exported.
func clean(s string) string {
	return strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(s)
}

func insertAudit(ctx context.Context, tx *Tx, e AuditEntry) error {
	if e.Outcome == "" {
		e.Outcome = "ok"
	}
	return appendAudit(ctx, tx, chainRow{
		At: ms(tx.now), ActorID: sql.NullInt64{Int64: e.ActorID, Valid: e.ActorID != 0},
		ActorEmail: clean(e.ActorEmail), Action: clean(e.Action), Target: clean(e.Target), Outcome: clean(e.Outcome),
		IP: clean(e.IP), RequestID: clean(e.RequestID), Details: clean(e.Details),
	})
}

// Audit records an entry on its own, for events that change nothing else
// (a failed sign-in, a refused request).
func (s *Store) Audit(ctx context.Context, e AuditEntry) error {
	return s.withTx(ctx, func(tx *Tx) error { return insertAudit(ctx, tx, e) })
}

// ListAudit returns the newest entries first, at most limit.
func (s *Store) ListAudit(ctx context.Context, limit int) ([]AuditEntry, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id, at, COALESCE(actor_id, 0), actor_email, action,
		target, outcome, ip, request_id, details FROM audit_log ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.ActorID, &e.ActorEmail, &e.Action, &e.Target, &e.Outcome,
			&e.IP, &e.RequestID, &e.Details); err != nil {
			return nil, err
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// AuditWriter records entries that may wait a moment before they are
// committed (the JSON API's reads: handlers/api_middleware.go) in group
// commits: the first entry waits at most linger for others, and up to max
// go in one transaction, each chained (appendAudit) as Audit would chain
// it, in the order they came. Entries that record a change never come
// here: they commit in the change's own transaction.
//
// What a crash can lose: the entries queued and not yet committed, at most
// linger's worth (and max per batch), never an entry of a change. Close
// (at shutdown) commits everything queued first.
type AuditWriter struct {
	s       *Store
	in      chan AuditEntry
	flush   chan chan struct{}
	done    chan struct{}
	linger  time.Duration
	max     int
	onError func(n int, err error)

	mu     sync.RWMutex
	closed bool
}

// NewAuditWriter starts a writer; onError hears of a batch that could not
// be committed (its n entries are lost). Close stops it.
func (s *Store) NewAuditWriter(linger time.Duration, max int, onError func(n int, err error)) *AuditWriter {
	w := &AuditWriter{s: s, in: make(chan AuditEntry, 4*max), flush: make(chan chan struct{}), done: make(chan struct{}), linger: linger, max: max, onError: onError}
	go w.run()
	return w
}

// Add queues e. When the queue is full (the disk is slower than the
// calls) or the writer is closed, e is committed at once, by the caller:
// an entry is never dropped for want of room.
func (w *AuditWriter) Add(ctx context.Context, e AuditEntry) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if !w.closed {
		select {
		case w.in <- e:
			return nil
		default:
		}
	}
	return w.s.Audit(ctx, e)
}

// Close commits what is queued and stops the writer; call it before the
// store closes.
func (w *AuditWriter) Close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.in)
	}
	w.mu.Unlock()
	<-w.done
}

func (w *AuditWriter) run() {
	defer close(w.done)
	timer := time.NewTimer(w.linger)
	timer.Stop()
	var batch []AuditEntry
	// take moves what is queued now into batch, up to limit entries in
	// all, without waiting.
	take := func(limit int) bool {
		for len(batch) < limit {
			select {
			case e, ok := <-w.in:
				if !ok {
					return false
				}
				batch = append(batch, e)
			default:
				return true
			}
		}
		return true
	}
	for {
		var flushed chan struct{}
		open := true
		select {
		case e, ok := <-w.in:
			if !ok {
				return
			}
			batch = append(batch, e)
			timer.Reset(w.linger)
		gather:
			for len(batch) < w.max {
				select {
				case e, ok := <-w.in:
					if !ok {
						open = false
						break gather
					}
					batch = append(batch, e)
				case flushed = <-w.flush:
					open = take(w.max)
					break gather
				case <-timer.C:
					break gather
				}
			}
			timer.Stop()
		case flushed = <-w.flush:
			open = take(w.max)
		}
		if len(batch) > 0 {
			w.commit(batch)
			batch = nil
		}
		if flushed != nil {
			// Everything queued when Flush was called, not only the first
			// batch of it (the queue holds up to 4 batches), and no more:
			// entries added meanwhile do not hold Flush up.
			for left := len(w.in); open && left > 0; {
				open = take(min(w.max, left))
				if len(batch) == 0 {
					break
				}
				w.commit(batch)
				left -= len(batch)
				batch = nil
			}
			close(flushed)
		}
		if !open {
			return
		}
	}
}

// Flush commits what is queued now and returns once it is committed.
func (w *AuditWriter) Flush() {
	w.mu.RLock()
	closed := w.closed
	w.mu.RUnlock()
	if closed {
		<-w.done
		return
	}
	done := make(chan struct{})
	select {
	case w.flush <- done:
		<-done
	case <-w.done:
	}
}

// commit writes a batch in one transaction; if that fails, each entry
// alone, so one bad entry cannot lose the others.
func (w *AuditWriter) commit(batch []AuditEntry) {
	ctx := context.Background()
	err := w.s.withTx(ctx, func(tx *Tx) error {
		for _, e := range batch {
			if err := insertAudit(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		return
	}
	lost, first := 0, error(nil)
	for _, e := range batch {
		if err := w.s.Audit(ctx, e); err != nil {
			lost++
			first = cmp.Or(first, err)
		}
	}
	if lost > 0 && w.onError != nil {
		w.onError(lost, first)
	}
}

package db

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
)

// The audit log is a hash chain (migration 0006). Each row's hash is
//
//	hex(SHA-256(prev || encode(row)))
//
// where prev is the previous row's hash as stored (64 hex characters, as
// ASCII) and encode is chainRow.encode: a version tag, then id, at and
// actor_id as 8-byte big-endian integers (actor_id behind a 0/1 NULL flag),
// then actor_email, action, target, outcome, ip, request_id and details,
// each as a 4-byte big-endian length and its bytes. The first row's prev is
// chainGenesis. Rows from before the migration have no stored hash; the
// chain's running value still passes through them (prev of the next row is
// the hash they would have had), so the first chained row's prev_hash
// commits to every one of them.
//
// A chain detects an edited, removed or inserted row, not a rewrite of the
// whole tail by someone with write access to the file, nor removal of the
// newest rows: record the head (paylinks audit verify prints it) somewhere
// else to catch those.

// chainGenesis is prev of the very first row.
const chainGenesis = "0000000000000000000000000000000000000000000000000000000000000000"

// chainVersion tags the encoding, so a future change cannot collide with it.
const chainVersion = "paylinks.audit.v1\x00"

// chainRow is an audit row exactly as stored: what the hash covers.
type chainRow struct {
	ID         int64
	At         int64 // unix milliseconds
	ActorID    sql.NullInt64
	ActorEmail string
	Action     string
	Target     string
	Outcome    string
	IP         string
	RequestID  string
	Details    string
	// PrevHash and Hash as stored; not part of the encoding.
	PrevHash, Hash sql.NullString
}

// encode is the canonical, unambiguous byte form of the row's content.
func (r *chainRow) encode(b []byte) []byte {
	b = append(b, chainVersion...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.ID))
	b = binary.BigEndian.AppendUint64(b, uint64(r.At))
	if r.ActorID.Valid {
		b = append(b, 1)
		b = binary.BigEndian.AppendUint64(b, uint64(r.ActorID.Int64))
	} else {
		b = append(b, 0)
	}
	for _, s := range [...]string{r.ActorEmail, r.Action, r.Target, r.Outcome, r.IP, r.RequestID, r.Details} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b
}

// chainHash is the hash of r chained onto prev.
func chainHash(prev string, r *chainRow) string {
	h := sha256.New()
	h.Write([]byte(prev))
	h.Write(r.encode(make([]byte, 0, 256)))
	return hex.EncodeToString(h.Sum(nil))
}

const chainCols = `id, at, actor_id, actor_email, action, target, outcome, ip, request_id, details, prev_hash, hash`

func (r *chainRow) scan(s scanner) error {
	return s.Scan(&r.ID, &r.At, &r.ActorID, &r.ActorEmail, &r.Action, &r.Target, &r.Outcome, &r.IP,
		&r.RequestID, &r.Details, &r.PrevHash, &r.Hash)
}

// appendAudit inserts r as the next row of the chain, in tx. The id is
// chosen here (the newest id plus one) because the hash covers it; tx is
// an IMMEDIATE write transaction, so no other insert can come between.
func appendAudit(ctx context.Context, tx *Tx, r chainRow) error {
	var lastID int64
	var lastHash sql.NullString
	prev := chainGenesis
	err := tx.QueryRowContext(ctx, `SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1`).Scan(&lastID, &lastHash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return err
	case lastHash.Valid:
		prev = lastHash.String
	default:
		// The newest row is from before the chain began (once, at the
		// first entry after migration 0006): fold them all.
		if prev, err = legacyDigest(ctx, tx); err != nil {
			return err
		}
	}
	r.ID = lastID + 1
	hash := chainHash(prev, &r)
	var actor any
	if r.ActorID.Valid {
		actor = r.ActorID.Int64
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO audit_log
		(id, at, actor_id, actor_email, action, target, outcome, ip, request_id, details, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.At, actor, r.ActorEmail, r.Action, r.Target, r.Outcome, r.IP, r.RequestID, r.Details, prev, hash)
	return err
}

// legacyDigest runs the chain over every row and returns its running value
// (the prev of the next row).
func legacyDigest(ctx context.Context, tx *Tx) (string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+chainCols+` FROM audit_log ORDER BY id`)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	run := chainGenesis
	for rows.Next() {
		var r chainRow
		if err := r.scan(rows); err != nil {
			return "", err
		}
		if r.Hash.Valid {
			run = r.Hash.String
		} else {
			run = chainHash(run, &r)
		}
	}
	return run, rows.Err()
}

// StartAuditChain anchors rows written before migration 0006: when the
// newest audit row has no hash, it appends an "audit.chain.start" entry
// whose prev_hash is the digest of all of them. It does nothing otherwise,
// so run calls it at every start. It reports whether it added the entry.
func (s *Store) StartAuditChain(ctx context.Context) (bool, error) {
	var unchained bool
	err := s.read.QueryRowContext(ctx, `SELECT hash IS NULL FROM audit_log ORDER BY id DESC LIMIT 1`).Scan(&unchained)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !unchained) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	added := false
	err = s.withTx(ctx, func(tx *Tx) error {
		var n int64
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM audit_log WHERE hash IS NULL`).Scan(&n); err != nil {
			return err
		}
		var last sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1`).Scan(&last); err != nil {
			return err
		}
		if last.Valid {
			return nil // another process anchored it meanwhile
		}
		added = true
		return insertAudit(ctx, tx, AuditEntry{Action: "audit.chain.start", Target: "audit_log",
			Details: fmt.Sprintf("rows_before_chain=%d", n)})
	})
	return added, err
}

// AuditChainReport is the result of walking the chain.
type AuditChainReport struct {
	Rows      int64  // rows checked
	Unchained int64  // rows from before the chain began (covered by the first chained row)
	HeadID    int64  // newest row
	Head      string // its hash: record it elsewhere to detect a rewritten tail
	// BadID is the first row that does not match, 0 when every row does;
	// Problem says how.
	BadID   int64
	Problem string
}

// OK reports whether every row matched.
func (r AuditChainReport) OK() bool { return r.BadID == 0 }

// VerifyAudit walks the audit chain oldest first, in one read snapshot,
// and reports the first row whose stored hashes do not match its content
// and the row before it. It returns an error only when it cannot read.
func (s *Store) VerifyAudit(ctx context.Context) (AuditChainReport, error) {
	var rep AuditChainReport
	tx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return rep, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT `+chainCols+` FROM audit_log ORDER BY id`)
	if err != nil {
		return rep, err
	}
	defer rows.Close()
	run := chainGenesis
	var prevID, firstUnchained int64
	chained := false
	for rows.Next() {
		var r chainRow
		if err := r.scan(rows); err != nil {
			return rep, err
		}
		rep.Rows++
		want := chainHash(run, &r)
		bad := func(problem string) (AuditChainReport, error) {
			rep.BadID, rep.Problem = r.ID, problem
			return rep, nil
		}
		if !r.Hash.Valid {
			if chained {
				return bad(fmt.Sprintf("row %d has no hash but comes after chained rows (added past the chain, or its hash was removed)", r.ID))
			}
			if firstUnchained == 0 {
				firstUnchained = r.ID
			}
			rep.Unchained++
			run, prevID = want, r.ID
			continue
		}
		if !r.PrevHash.Valid || r.PrevHash.String != run {
			switch {
			case !chained && rep.Unchained > 0:
				return bad(fmt.Sprintf("row %d (where the chain began) does not match the %d rows before it (ids %d–%d): one of those was changed, removed or added", r.ID, rep.Unchained, firstUnchained, prevID))
			case prevID != 0 && r.ID != prevID+1:
				return bad(fmt.Sprintf("row %d does not follow row %d: rows %d–%d are missing", r.ID, prevID, prevID+1, r.ID-1))
			case prevID == 0 && r.ID != 1:
				return bad(fmt.Sprintf("row %d is the oldest row, but rows 1–%d are missing", r.ID, r.ID-1))
			case prevID == 0:
				return bad(fmt.Sprintf("row %d: its prev_hash is not the start of the chain", r.ID))
			}
			return bad(fmt.Sprintf("row %d: its prev_hash does not match row %d (a row was removed, inserted, or its prev_hash changed)", r.ID, prevID))
		}
		if r.Hash.String != want {
			return bad(fmt.Sprintf("row %d: its content does not match its hash (the row was changed)", r.ID))
		}
		chained = true
		run, prevID = r.Hash.String, r.ID
		rep.HeadID, rep.Head = r.ID, r.Hash.String
	}
	if err := rows.Err(); err != nil {
		return rep, err
	}
	if !chained && rep.Unchained > 0 {
		rep.HeadID, rep.Head = prevID, run
	}
	return rep, nil
}

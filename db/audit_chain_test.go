package db_test

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/migrations"
)

// tamperDB opens the store's file behind its back, as an attacker with the
// file (or the sqlite3 shell) would.
func tamperDB(t *testing.T, st *db.Store) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite", db.DSN(st.Path(), false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

// tamper runs stmt with the append-only triggers dropped, then puts them back.
func tamper(t *testing.T, st *db.Store, stmts ...string) {
	t.Helper()
	raw := tamperDB(t, st)
	all := append([]string{"DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete", "DROP TRIGGER audit_log_chained"}, stmts...)
	all = append(all,
		"CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
		"CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
		"CREATE TRIGGER audit_log_chained BEFORE INSERT ON audit_log WHEN NEW.hash IS NULL OR NEW.prev_hash IS NULL OR length(NEW.hash) <> 64 OR length(NEW.prev_hash) <> 64 BEGIN SELECT RAISE(ABORT, 'audit_log rows must be hash-chained'); END")
	for _, s := range all {
		if _, err := raw.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func auditN(t *testing.T, st *db.Store, n int) {
	t.Helper()
	for i := range n {
		e := db.AuditEntry{Action: "user.create", ActorID: int64(i%2 + 1), ActorEmail: "ada@example.com",
			Target: fmt.Sprintf("user:%d", i), IP: "192.0.2.1", RequestID: fmt.Sprintf("req-%d", i), Details: "role=finance"}
		if i%3 == 0 {
			e.ActorID, e.ActorEmail = 0, "" // a system entry: NULL actor
		}
		if err := st.Audit(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
}

func verify(t *testing.T, st *db.Store) db.AuditChainReport {
	t.Helper()
	rep, err := st.VerifyAudit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestAuditChainVerifiesUntouchedLog(t *testing.T) {
	st := mustOpenDB(t)
	if rep := verify(t, st); !rep.OK() || rep.Rows != 0 || rep.Head != "" {
		t.Fatalf("empty log: %+v", rep)
	}
	auditN(t, st, 6)
	rep := verify(t, st)
	if !rep.OK() || rep.Rows != 6 || rep.HeadID != 6 || len(rep.Head) != 64 || rep.Unchained != 0 {
		t.Fatalf("report %+v, want 6 matching rows with head 6", rep)
	}
	entries, err := st.ListAudit(context.Background(), 1)
	if err != nil || len(entries) != 1 || entries[0].ID != 6 {
		t.Fatalf("newest entry %+v, %v", entries, err)
	}
}

func TestAuditChainNamesTheFirstRowThatDoesNotMatch(t *testing.T) {
	cases := []struct {
		name    string
		stmts   []string
		wantID  int64
		problem string
	}{
		{"details edited", []string{"UPDATE audit_log SET details = 'role=admin' WHERE id = 3"}, 3, "content does not match"},
		{"actor cleared", []string{"UPDATE audit_log SET actor_id = NULL WHERE id = 2"}, 2, "content does not match"},
		{"time moved", []string{"UPDATE audit_log SET at = at - 1 WHERE id = 5"}, 5, "content does not match"},
		{"newest edited", []string{"UPDATE audit_log SET outcome = 'failed' WHERE id = 6"}, 6, "content does not match"},
		{"row removed", []string{"DELETE FROM audit_log WHERE id = 3"}, 4, "rows 3–3 are missing"},
		{"oldest removed", []string{"DELETE FROM audit_log WHERE id = 1"}, 2, "rows 1–1 are missing"},
		{"row edited and rehashed", []string{"UPDATE audit_log SET details = 'x', hash = '" + strings.Repeat("ab", 32) + "' WHERE id = 4"}, 4, "content does not match"},
		{"hash removed", []string{"UPDATE audit_log SET hash = NULL WHERE id = 4"}, 4, "no hash"},
		{"row slipped in", []string{"INSERT INTO audit_log (id, at, action) VALUES (7, 0, 'forged')"}, 7, "no hash"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := mustOpenDB(t)
			auditN(t, st, 6)
			tamper(t, st, tc.stmts...)
			rep := verify(t, st)
			if rep.BadID != tc.wantID || !strings.Contains(rep.Problem, tc.problem) {
				t.Fatalf("got bad row %d (%q), want row %d (%q)", rep.BadID, rep.Problem, tc.wantID, tc.problem)
			}
		})
	}
}

func TestAuditChainCarriesOnAfterTheNewestRowIsEditedAndRestored(t *testing.T) {
	st := mustOpenDB(t)
	auditN(t, st, 3)
	// New entries chain onto whatever is stored; verify still names row 3.
	tamper(t, st, "UPDATE audit_log SET details = 'edited' WHERE id = 3")
	auditN(t, st, 2)
	if rep := verify(t, st); rep.BadID != 3 {
		t.Fatalf("bad row %d, want 3", rep.BadID)
	}
}

func TestAuditChainUnderConcurrentWriters(t *testing.T) {
	st := mustOpenDB(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 15 {
				if err := st.Audit(ctx, db.AuditEntry{Action: "t", Details: fmt.Sprintf("%d/%d", g, i)}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if rep := verify(t, st); !rep.OK() || rep.Rows != 120 {
		t.Fatalf("report %+v", rep)
	}
}

// before0006 is the migrations this chain was added to.
func before0006(t *testing.T) fs.FS {
	t.Helper()
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	old := fstest.MapFS{}
	for _, n := range names {
		if n < "0006" {
			b, _ := fs.ReadFile(migrations.FS, n)
			old[n] = &fstest.MapFile{Data: b}
		}
	}
	return old
}

// legacyStore is a database whose audit log was written before migration
// 0006, then upgraded.
func legacyStore(t *testing.T, rows int) *db.Store {
	t.Helper()
	ctx := context.Background()
	st, err := db.Open(ctx, filepath.Join(t.TempDir(), "legacy.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx, before0006(t)); err != nil {
		t.Fatal(err)
	}
	raw := tamperDB(t, st)
	for i := range rows {
		if _, err := raw.Exec(`INSERT INTO audit_log (at, actor_id, actor_email, action, target, details) VALUES (?, ?, 'old@example.com', 'login', 'user:1', ?)`,
			1700000000000+i, 1, fmt.Sprintf("legacy %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Migrate(ctx, migrations.FS); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestAuditChainCoversRowsFromBeforeIt(t *testing.T) {
	ctx := context.Background()
	st := legacyStore(t, 4)
	rep := verify(t, st)
	if !rep.OK() || rep.Unchained != 4 || rep.HeadID != 4 {
		t.Fatalf("upgraded, not yet anchored: %+v", rep)
	}
	added, err := st.StartAuditChain(ctx)
	if err != nil || !added {
		t.Fatalf("StartAuditChain = %v, %v; want an anchor row", added, err)
	}
	if added, err := st.StartAuditChain(ctx); err != nil || added {
		t.Fatalf("second StartAuditChain = %v, %v; want nothing to do", added, err)
	}
	auditN(t, st, 2)
	rep = verify(t, st)
	if !rep.OK() || rep.Rows != 7 || rep.Unchained != 4 || rep.HeadID != 7 {
		t.Fatalf("report %+v", rep)
	}
	anchor, err := st.SearchAudit(ctx, db.AuditQuery{Action: "audit.chain.start"})
	if err != nil || len(anchor.Entries) != 1 || anchor.Entries[0].ID != 5 || anchor.Entries[0].Details != "rows_before_chain=4" {
		t.Fatalf("anchor %+v, %v", anchor.Entries, err)
	}
	// An edit before the chain began is noticed at its first row.
	tamper(t, st, "UPDATE audit_log SET details = 'rewritten' WHERE id = 2")
	rep = verify(t, st)
	if rep.BadID != 5 || !strings.Contains(rep.Problem, "ids 1–4") {
		t.Fatalf("got row %d (%s), want 5 naming ids 1–4", rep.BadID, rep.Problem)
	}
}

func TestFirstEntryAfterUpgradeAnchorsTheOldRows(t *testing.T) {
	st := legacyStore(t, 3)
	auditN(t, st, 1) // no StartAuditChain: the first ordinary entry folds them in
	if rep := verify(t, st); !rep.OK() || rep.Unchained != 3 || rep.HeadID != 4 {
		t.Fatalf("report %+v", rep)
	}
	tamper(t, st, "DELETE FROM audit_log WHERE id = 1")
	if rep := verify(t, st); rep.BadID != 4 {
		t.Fatalf("bad row %d (%s), want 4", rep.BadID, rep.Problem)
	}
}

func TestUnchainedInsertIsRefused(t *testing.T) {
	st := mustOpenDB(t)
	if _, err := tamperDB(t, st).Exec(`INSERT INTO audit_log (at, action) VALUES (1, 'sneaky')`); err == nil {
		t.Fatal("an audit row without a hash was accepted")
	}
}

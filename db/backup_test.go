package db_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/migrations"
)

// counts are the rows a restored backup is compared on.
type counts struct{ audit, links, lastAudit, lastLink int64 }

func countRows(t *testing.T, st *db.Store) counts {
	t.Helper()
	raw := tamperDB(t, st)
	var c counts
	for _, q := range []struct {
		sql string
		dst *int64
	}{
		{"SELECT count(*) FROM audit_log", &c.audit}, {"SELECT count(*) FROM links", &c.links},
		{"SELECT COALESCE(max(id), 0) FROM audit_log", &c.lastAudit}, {"SELECT COALESCE(max(id), 0) FROM links", &c.lastLink},
	} {
		if err := raw.QueryRow(q.sql).Scan(q.dst); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// DB-9: a backup taken while writers keep committing restores to a sound
// database holding everything committed before it began.
func TestBackupUnderWriteLoadRestores(t *testing.T) {
	st := mustOpenDB(t)
	ctx := context.Background()
	user := mustUser(t, st)
	for i := range 50 {
		if err := st.Audit(ctx, db.AuditEntry{Action: "seed", Details: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	addLink(t, st, user)

	// Writers: audit rows and links, until the backup is done.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writes atomic.Int64
	errs := make(chan error, 8)
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				if g%2 == 0 {
					err = st.Audit(ctx, db.AuditEntry{Action: "load", Details: fmt.Sprintf("%d/%d", g, i)})
				} else {
					_, _, err = st.CreateLink(ctx, db.NewLink{
						IdempotencyKey: fmt.Sprintf("bk-%d-%d", g, i), CustomerID: "C", CustomerEmail: "c@example.com",
						Country: "DE", AmountMinor: 100, AmountText: "1.00", Currency: "EUR",
						SuccessURL: "https://x/s", SupportURL: "https://x/h", ExitURL: "https://x/e", ErrorURL: "https://x/r",
						CreatedBy: user, AllowDuplicate: true,
					}, db.AuditEntry{Action: "link.create"})
				}
				if err != nil {
					errs <- err
					return
				}
				writes.Add(1)
			}
		})
	}
	// Let the load get going, then note what is committed and back up.
	for writes.Load() < 20 {
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
		time.Sleep(time.Millisecond)
	}
	before := countRows(t, st)
	out := filepath.Join(t.TempDir(), "backups", "paylinks-backup.db")
	if err := os.MkdirAll(filepath.Dir(out), 0o700); err != nil {
		t.Fatal(err)
	}
	backupErr := st.Backup(ctx, out)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("writer: %v", err)
	}
	if backupErr != nil {
		t.Fatal(backupErr)
	}
	after := countRows(t, st)
	t.Logf("committed before the backup: %+v; after: %+v", before, after)

	// Nothing else is left beside it.
	ents, _ := os.ReadDir(filepath.Dir(out))
	if len(ents) != 1 || ents[0].Name() != "paylinks-backup.db" {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("backup directory holds %v, want only the backup", names)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}

	// Restore: open the copy as paylinks would.
	restored, err := db.Open(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	if applied, err := restored.Migrate(ctx, migrations.FS); err != nil || len(applied) != 0 {
		t.Fatalf("migrate the restored copy: applied %v, %v", applied, err)
	}
	var ic string
	if err := tamperDB(t, restored).QueryRow("PRAGMA integrity_check").Scan(&ic); err != nil || ic != "ok" {
		t.Fatalf("integrity_check = %q, %v", ic, err)
	}
	got := countRows(t, restored)
	// Ids are dense, so holding every row up to the last one committed
	// before the backup means the count covers them.
	if got.audit < before.audit || got.links < before.links || got.lastAudit < before.lastAudit || got.lastLink < before.lastLink {
		t.Fatalf("restored %+v, but %+v were committed before the backup began", got, before)
	}
	if got.audit > after.audit || got.links > after.links {
		t.Fatalf("restored %+v holds more than the live database %+v", got, after)
	}
	if rep, err := restored.VerifyAudit(ctx); err != nil || !rep.OK() {
		t.Fatalf("restored audit chain: %+v, %v", rep, err)
	}
	if _, err := restored.SearchAudit(ctx, db.AuditQuery{}); err != nil {
		t.Fatal(err)
	}
}

func TestBackupRefusesAnExistingTarget(t *testing.T) {
	st := mustOpenDB(t)
	out := filepath.Join(t.TempDir(), "taken.db")
	if err := os.WriteFile(out, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := st.Backup(context.Background(), out)
	if !errors.Is(err, db.ErrBackupExists) {
		t.Fatalf("got %v, want ErrBackupExists", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "precious" {
		t.Fatal("the existing file was changed")
	}
	ents, _ := os.ReadDir(filepath.Dir(out))
	if len(ents) != 1 {
		t.Fatalf("%d files beside the target, want none left behind", len(ents)-1)
	}
	// A directory that does not exist is a plain error, not a partial file.
	if err := st.Backup(context.Background(), filepath.Join(t.TempDir(), "no", "such", "dir.db")); err == nil {
		t.Fatal("backup into a missing directory succeeded")
	}
}

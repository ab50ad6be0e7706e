package db_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/migrations"
	"github.com/paylinks/paylinks/paylink"
)

// mustOpenDB opens a migrated database in a temporary file.
func mustOpenDB(t *testing.T) *db.Store {
	t.Helper()
	return db.OpenTestStore(t)
}

func TestEveryPooledConnectionHasThePragmas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	st, err := db.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	for _, readOnly := range []bool{false, true} {
		pool, err := sql.Open("sqlite", db.DSN(path, readOnly))
		if err != nil {
			t.Fatal(err)
		}
		pool.SetMaxOpenConns(8)
		pool.SetConnMaxLifetime(time.Millisecond) // recycle between checks
		ctx := context.Background()
		conns := make([]*sql.Conn, 8)
		for i := range conns {
			if conns[i], err = pool.Conn(ctx); err != nil {
				t.Fatal(err)
			}
		}
		for i, c := range conns {
			var fk, busy, sync int
			var mode string
			if err := c.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
				t.Fatal(err)
			}
			c.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy)
			c.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode)
			c.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync)
			if fk != 1 || busy != 5000 || mode != "wal" || sync != 2 {
				t.Errorf("readOnly=%v conn %d: foreign_keys=%d busy_timeout=%d journal_mode=%s synchronous=%d", readOnly, i, fk, busy, mode, sync)
			}
			c.Close()
		}
		pool.Close()
	}
}

func TestSQLiteVersionFloor(t *testing.T) {
	cases := []struct {
		have string
		ok   bool
	}{
		{"3.51.3", true}, {"3.54.1", true}, {"3.51.2", false}, {"3.50.7", false}, {"4.0.0", true}, {"3.9.0", false},
	}
	for _, c := range cases {
		if got := db.VersionAtLeast(c.have, db.MinSQLiteVersion); got != c.ok {
			t.Errorf("VersionAtLeast(%s) = %v, want %v", c.have, got, c.ok)
		}
	}
	st := mustOpenDB(t)
	_ = st // Open succeeded, so the bundled SQLite passed the floor.
}

func TestMigrationsAreRecordedAndIdempotent(t *testing.T) {
	st := mustOpenDB(t)
	applied, err := st.Migrate(context.Background(), migrations.FS)
	if err != nil || len(applied) != 0 {
		t.Fatalf("second run applied %v, err %v", applied, err)
	}
	pending, _ := st.PendingMigrations(context.Background(), migrations.FS)
	if len(pending) != 0 {
		t.Fatalf("pending %v", pending)
	}
}

// openBare opens an empty database with no migrations applied.
func openBare(t *testing.T) *db.Store {
	t.Helper()
	st, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "bare.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestDatabaseNewerThanBinaryIsRefused(t *testing.T) {
	st := openBare(t)
	newer := fstest.MapFS{
		"0001_init.sql":   &fstest.MapFile{Data: []byte("SELECT 1;")},
		"9999_future.sql": &fstest.MapFile{Data: []byte("CREATE TABLE future (x INTEGER);")},
	}
	// A newer binary ran: it recorded a migration this one lacks.
	if _, err := st.Migrate(context.Background(), newer); err != nil {
		t.Fatal(err)
	}
	older := fstest.MapFS{"0001_init.sql": newer["0001_init.sql"]}
	if _, err := st.Migrate(context.Background(), older); err == nil {
		t.Fatal("a database with an unknown migration must be refused")
	}
}

func TestFailedMigrationLeavesNothing(t *testing.T) {
	st := openBare(t)
	bad := fstest.MapFS{
		"0001_init.sql":  &fstest.MapFile{Data: []byte("SELECT 1;")},
		"0002_half.sql":  &fstest.MapFile{Data: []byte("CREATE TABLE half (x INTEGER); THIS IS NOT SQL;")},
		"0003_after.sql": &fstest.MapFile{Data: []byte("CREATE TABLE after (x INTEGER);")},
	}
	if _, err := st.Migrate(context.Background(), bad); err == nil {
		t.Fatal("broken migration applied")
	}
	pending, _ := st.PendingMigrations(context.Background(), bad)
	if len(pending) != 2 {
		t.Fatalf("pending %v, want 0002 and 0003", pending)
	}
	good := fstest.MapFS{"0001_init.sql": bad["0001_init.sql"], "0002_half.sql": &fstest.MapFile{Data: []byte("CREATE TABLE half (x INTEGER);")}}
	if _, err := st.Migrate(context.Background(), good); err != nil {
		t.Fatalf("the half-applied table survived the rollback: %v", err)
	}
}

func TestEmailIsUniqueIgnoringCase(t *testing.T) {
	st := mustOpenDB(t)
	ctx := context.Background()
	nu := db.NewUser{Email: "Ada@Example.com", Name: "Ada", Role: paylink.RoleAdmin, PasswordHash: "x"}
	if _, err := st.CreateUser(ctx, nu, db.AuditEntry{Action: "t"}); err != nil {
		t.Fatal(err)
	}
	nu.Email = "ada@example.COM"
	if _, err := st.CreateUser(ctx, nu, db.AuditEntry{Action: "t"}); !errors.Is(err, db.ErrConflict) {
		t.Fatalf("got %v, want ErrConflict", err)
	}
	if _, err := st.UserByEmail(ctx, "ADA@EXAMPLE.COM"); err != nil {
		t.Fatalf("lookup ignoring case: %v", err)
	}
	if _, err := st.UserByEmail(ctx, "nobody@example.com"); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
	nu.Role = "superuser"
	nu.Email = "x@example.com"
	if _, err := st.CreateUser(ctx, nu, db.AuditEntry{Action: "t"}); err == nil {
		t.Fatal("unknown role accepted by the schema")
	}
}

func TestAuditLogIsAppendOnly(t *testing.T) {
	st := mustOpenDB(t)
	ctx := context.Background()
	if err := st.Audit(ctx, db.AuditEntry{Action: "login", Details: "line one\r\nBcc: x"}); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", db.DSN(st.Path(), false))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec("UPDATE audit_log SET action = 'nothing'"); err == nil {
		t.Error("UPDATE of audit_log succeeded")
	}
	if _, err := raw.Exec("DELETE FROM audit_log"); err == nil {
		t.Error("DELETE from audit_log succeeded")
	}
	entries, _ := st.ListAudit(ctx, 10)
	if len(entries) != 1 || entries[0].Details != `line one\r\nBcc: x` {
		t.Fatalf("entries %+v: CR/LF must be escaped", entries)
	}
}

func TestSetupCompletesOnceUnderRace(t *testing.T) {
	st := mustOpenDB(t)
	ctx := context.Background()
	if err := st.ReplaceSetupToken(ctx, "h", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := st.CompleteSetup(ctx, "h", db.NewUser{Email: "a" + string(rune('a'+i)) + "@example.com", Name: "A", Role: paylink.RoleAdmin, PasswordHash: "x"}, db.AuditEntry{Action: "t"})
			if err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if !errors.Is(err, db.ErrSetupClosed) {
				t.Errorf("unexpected error: %v", err)
			}
		}(i)
	}
	wg.Wait()
	if us, _ := st.ListUsers(ctx); wins != 1 || len(us) != 1 {
		t.Fatalf("%d setups succeeded, %d accounts; want exactly one", wins, len(us))
	}
}

// TestDisabledAccountsLeaveSetupOpen: setup stays open while no account
// can sign in (a fresh database with only the disabled account seed data
// is attributed to), and closes once one can.
func TestDisabledAccountsLeaveSetupOpen(t *testing.T) {
	st := mustOpenDB(t)
	ctx := context.Background()
	u, err := st.CreateUser(ctx, db.NewUser{Email: "seed@example.invalid", Name: "Seed data", Role: paylink.RoleViewer, PasswordHash: "!"}, db.AuditEntry{Action: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if open, err := st.SetupOpen(ctx); err != nil || open {
		t.Fatalf("an enabled account exists, setup open=%v %v", open, err)
	}
	if err := st.SetUserDisabled(ctx, u.ID, true, db.AuditEntry{Action: "t"}); err != nil {
		t.Fatal(err)
	}
	if open, err := st.SetupOpen(ctx); err != nil || !open {
		t.Fatalf("only a disabled account: setup open=%v %v", open, err)
	}
	if err := st.ReplaceSetupToken(ctx, "h", time.Now().Add(time.Hour)); err != nil || !st.SetupTokenValid(ctx, "h") {
		t.Fatalf("setup token with only a disabled account: %v", err)
	}
	if _, err := st.CompleteSetup(ctx, "h", db.NewUser{Email: "admin@example.com", Name: "A", Role: paylink.RoleAdmin, PasswordHash: "x"}, db.AuditEntry{Action: "t"}); err != nil {
		t.Fatal(err)
	}
	if open, _ := st.SetupOpen(ctx); open {
		t.Fatal("setup still open after the first admin")
	}
	if err := st.ReplaceSetupToken(ctx, "h2", time.Now().Add(time.Hour)); !errors.Is(err, db.ErrSetupClosed) {
		t.Fatalf("a new setup token after the first admin: %v", err)
	}
}

func TestExpiredSetupTokenRefused(t *testing.T) {
	st := mustOpenDB(t)
	ctx := context.Background()
	if err := st.ReplaceSetupToken(ctx, "h", time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if st.SetupTokenValid(ctx, "h") {
		t.Fatal("expired token valid")
	}
	if _, err := st.CompleteSetup(ctx, "h", db.NewUser{Email: "a@example.com", Name: "A", Role: paylink.RoleAdmin, PasswordHash: "x"}, db.AuditEntry{}); !errors.Is(err, db.ErrSetupClosed) {
		t.Fatalf("got %v", err)
	}
}

// TestConcurrentMigrationsApplyEachOnce: several processes (here, stores)
// migrating one new file at once all succeed, and each migration is
// recorded once.
func TestConcurrentMigrationsApplyEachOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for range 6 {
		wg.Go(func() {
			st, err := db.Open(context.Background(), path)
			if err != nil {
				errs <- err
				return
			}
			defer st.Close()
			_, err = st.Migrate(context.Background(), migrations.FS)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent migrate: %v", err)
		}
	}
	st, err := db.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if pending, err := st.PendingMigrations(context.Background(), migrations.FS); err != nil || len(pending) != 0 {
		t.Fatalf("pending after concurrent migrate: %v %v", pending, err)
	}
}

package db_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/internal/testkit"
	"github.com/paylinks/paylinks/migrations"
	"github.com/paylinks/paylinks/paylink"
)

// TestDiskFullIsReportedAndClears: on a real filesystem that fills up, a
// write fails with a StorageError naming the full disk and nothing of it
// is saved; WriteFault says so from then on; once space returns, the
// write probe succeeds and the fault clears.
func TestDiskFullIsReportedAndClears(t *testing.T) {
	dir := testkit.SmallDisk(t, 8<<20)
	ctx := context.Background()
	st, err := db.Open(ctx, filepath.Join(dir, "paylinks.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx, migrations.FS); err != nil {
		t.Fatal(err)
	}
	if err := st.ProbeWrite(ctx); err != nil {
		t.Fatalf("probe on a disk with room: %v", err)
	}
	if r, _ := st.WriteFault(); r != "" {
		t.Fatalf("fault before any: %q", r)
	}
	free := testkit.FillDisk(t, dir)
	var werr error
	var refused string
	for i := range 200 { // the WAL may have room for a few small writes
		refused = "u" + strings.Repeat("x", i) + "@example.com"
		_, werr = st.CreateUser(ctx, db.NewUser{Email: refused, Name: strings.Repeat("N", 4000),
			Role: paylink.RoleViewer, PasswordHash: strings.Repeat("h", 4000)}, db.AuditEntry{Action: "test"})
		if werr != nil {
			break
		}
	}
	var se *db.StorageError
	if !errors.As(werr, &se) || !errors.Is(werr, db.ErrStorage) || se.Reason != "the disk is full" {
		t.Fatalf("write on a full disk: %v", werr)
	}
	if _, err := st.UserByEmail(ctx, refused); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("the refused write left its user behind: %v", err)
	}
	reason, since := st.WriteFault()
	if reason != "the disk is full" || time.Since(since) > time.Minute {
		t.Fatalf("WriteFault = %q since %v", reason, since)
	}
	if err := st.ProbeWrite(ctx); !errors.Is(err, db.ErrStorage) {
		t.Fatalf("probe on a full disk: %v", err)
	}
	free()
	if err := st.ProbeWrite(ctx); err != nil {
		t.Fatalf("probe after space returned: %v", err)
	}
	if r, _ := st.WriteFault(); r != "" {
		t.Fatalf("the fault did not clear: %q", r)
	}
	if _, err := st.CreateUser(ctx, db.NewUser{Email: "after@example.com", Name: "After", Role: paylink.RoleViewer, PasswordHash: "x"},
		db.AuditEntry{Action: "test"}); err != nil {
		t.Fatalf("write after space returned: %v", err)
	}
}

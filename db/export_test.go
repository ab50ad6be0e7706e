package db

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/paylinks/paylinks/migrations"
)

// OpenTestStore is a migrated store on a file in the test's temp directory,
// closed when the test ends; for this package's tests, inside and out.
func OpenTestStore(tb testing.TB) *Store {
	tb.Helper()
	st, err := Open(context.Background(), filepath.Join(tb.TempDir(), "test.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(context.Background(), migrations.FS); err != nil {
		tb.Fatal(err)
	}
	return st
}

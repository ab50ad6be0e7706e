package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/migrations"
)

// auditCmd is `paylinks audit verify`: walk the audit log's hash chain and
// name the first row that does not match. It only reads (no migration), so
// it is safe beside a running server and on a restored backup.
func auditCmd(ctx context.Context, cfg Config, args []string, stdout io.Writer) error {
	if len(args) != 1 || args[0] != "verify" {
		return fmt.Errorf("audit: want `audit verify`; %w", errUsage)
	}
	st, err := openExisting(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	if pending, err := st.PendingMigrations(ctx, migrations.FS); err != nil {
		return err
	} else if len(pending) > 0 {
		return fmt.Errorf("audit verify: the database schema is behind this binary (pending: %s); run `paylinks migrate` first", strings.Join(pending, ", "))
	}
	rep, err := st.VerifyAudit(ctx)
	if err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}
	if !rep.OK() {
		return fmt.Errorf("audit chain broken at row %d: %s", rep.BadID, rep.Problem)
	}
	fmt.Fprintf(stdout, "audit chain ok: %d rows", rep.Rows)
	if rep.Unchained > 0 {
		fmt.Fprintf(stdout, " (%d from before the chain began, covered by its first row)", rep.Unchained)
	}
	fmt.Fprintln(stdout)
	if rep.HeadID != 0 {
		fmt.Fprintf(stdout, "newest row %d, hash %s\n", rep.HeadID, rep.Head)
		fmt.Fprintln(stdout, "Keep this line somewhere else: a later verify whose row", rep.HeadID, "has another hash means the log was rewritten.")
	}
	return nil
}

// openExisting opens the configured database without creating or
// migrating it.
func openExisting(ctx context.Context, cfg Config) (*db.Store, error) {
	if _, err := os.Stat(cfg.DBPath); err != nil {
		return nil, fmt.Errorf("no database at %s (PAYLINKS_DB): %w", cfg.DBPath, err)
	}
	return db.Open(ctx, cfg.DBPath)
}

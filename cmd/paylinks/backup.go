package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/paylinks/paylinks/migrations"
)

// backupCmd is `paylinks backup --out FILE`: a consistent, checked copy of
// the database, safe while paylinks serves (db.Store.Backup). It never
// overwrites FILE and never migrates the database it copies.
func backupCmd(ctx context.Context, cfg Config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	out := fs.String("out", "", "file to write the backup to (must not exist)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if *out == "" || fs.NArg() > 0 {
		return fmt.Errorf("backup: want `backup --out FILE`; %w", errUsage)
	}
	st, err := openExisting(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	// Its directory is made (private) if missing: distroless has no mkdir.
	if err := os.MkdirAll(filepath.Dir(*out), 0o700); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	start := time.Now()
	if err := st.Backup(ctx, *out); err != nil {
		return err
	}
	fi, err := os.Stat(*out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup written to %s (%d bytes, integrity ok) in %s\n", *out, fi.Size(), time.Since(start).Round(time.Millisecond))
	// The backup is audited when the schema is this binary's (the audit
	// table is chained from migration 0006 on).
	pending, err := st.PendingMigrations(ctx, migrations.FS)
	if err == nil && len(pending) == 0 {
		a := cliAudit("db.backup")
		a.Target = "database"
		a.Details = "out=" + *out
		err = st.Audit(ctx, a)
	}
	return err
}

package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/paylinks/paylinks/migrations"
)

// figuresCmd is `paylinks figures check|rebuild`: compare the dashboard's
// kept figures with the links, or rebuild them from the links
// (db.Store.CheckFigures, db.Store.RebuildFigures). Both are safe beside a
// running server; a rebuild holds the write lock for its few seconds.
func figuresCmd(ctx context.Context, cfg Config, args []string, stdout io.Writer) error {
	if len(args) != 1 || (args[0] != "check" && args[0] != "rebuild") {
		return fmt.Errorf("figures: want `figures check` or `figures rebuild`; %w", errUsage)
	}
	st, err := openExisting(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	if pending, err := st.PendingMigrations(ctx, migrations.FS); err != nil {
		return err
	} else if len(pending) > 0 {
		return fmt.Errorf("figures: the database schema is behind this binary (pending: %s); run `paylinks migrate` first", strings.Join(pending, ", "))
	}
	if args[0] == "rebuild" {
		if err := st.RebuildFigures(ctx); err != nil {
			return fmt.Errorf("figures rebuild: %w", err)
		}
		fmt.Fprintln(stdout, "figures rebuilt from the links")
		return nil
	}
	diffs, err := st.CheckFigures(ctx)
	if err != nil {
		return fmt.Errorf("figures check: %w", err)
	}
	if len(diffs) == 0 {
		fmt.Fprintln(stdout, "figures ok: they match the links")
		return nil
	}
	const show = 20
	for i, d := range diffs {
		if i == show {
			fmt.Fprintf(stdout, "… and %d more\n", len(diffs)-show)
			break
		}
		fmt.Fprintln(stdout, d)
	}
	return fmt.Errorf("figures check: %d figures differ from the links; `paylinks figures rebuild` rebuilds them", len(diffs))
}

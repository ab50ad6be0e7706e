package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
)

// seedCmd is `paylinks seed --links N [--force]`: realistic fake links for
// trying search and measuring it. Run it while paylinks is stopped: the
// search triggers are dropped for the load and rebuilt afterwards.
func seedCmd(ctx context.Context, st *db.Store, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	n := fs.Int("links", 1000, "how many links to add")
	force := fs.Bool("force", false, "seed even though the database holds real links")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	if *n < 1 || *n > 10_000_000 {
		return errors.New("seed: --links must be between 1 and 10000000")
	}
	real, err := st.RealLinkCount(ctx)
	if err != nil {
		return err
	}
	if real > 0 && !*force {
		return fmt.Errorf("seed: the database holds %d real links; refusing to mix fake ones in (use --force to do it anyway)", real)
	}
	user, err := seedUser(ctx, st)
	if err != nil {
		return err
	}
	start := time.Now()
	last := time.Now()
	err = st.SeedLinks(ctx, *n, 20000, user, db.FakeLinks(start, 20261125), func(done int) {
		if time.Since(last) > 5*time.Second || done == *n {
			fmt.Fprintf(stdout, "seeded %d/%d links (%s)\n", done, *n, time.Since(start).Round(time.Second))
			last = time.Now()
		}
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seeded %d links and rebuilt the search index in %s\n", *n, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// seedUser is the disabled account seeded links are attributed to.
func seedUser(ctx context.Context, st *db.Store) (int64, error) {
	const email = "seed-data@paylinks.invalid"
	if u, err := st.UserByEmail(ctx, email); err == nil {
		return u.ID, nil
	}
	u, err := st.CreateUser(ctx, db.NewUser{Email: email, Name: "Seed data", Role: paylink.RoleViewer, PasswordHash: "!disabled"}, cliAudit("user.create"))
	if err != nil {
		return 0, err
	}
	return u.ID, st.SetUserDisabled(ctx, u.ID, true, cliAudit("user.disable"))
}

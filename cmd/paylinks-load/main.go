// Command paylinks-load is paylinks' load test: it starts a real
// `paylinks serve` as a child process on loopback, in demo mode (the
// in-process StableMint sandbox), against a seeded database, then holds
// -users signed-in staff browsing, searching and opening links while a
// sender posts -webhooks-per-sec signed StableMint webhooks, for -duration,
// and, with -live-lists, open Links tabs ask for their live updates every
// 10 s as static/js/app.js does (livelist.go).
// At the end it prints count, p50, p99 and max per route, refusals and
// errors, throughput and the server's memory, and exits non-zero if any
// request got a 5xx, failed in transport, or got a response a browser would
// not expect (a sign-in redirect, a page missing its content).
//
//	go run ./cmd/paylinks-load -db /tmp/load1m/p.db -links 1000000
//
// What it does to the database named by -db:
//
//   - if the file does not exist it is seeded first (`paylinks seed --links
//     N`; about two minutes for a million links);
//   - it refuses a database holding real (not seeded) links unless -force;
//   - it adds -users viewer accounts load-user-NNN@paylinks.invalid, or
//     resets their password if they exist (a fresh random password each
//     run, never printed), and their sessions and audit entries;
//   - the webhooks it sends are stored as events and move the seeded links
//     they name forward (processing, paid, settled);
//   - serve writes session.keys and sandbox/ (demo keys) beside it.
//
// So point it at a copy or a database made for load tests, never at one in
// use. The run itself is bounded: -duration, then up to -grace (default
// 40 s: every request has a 35 s deadline) for requests in flight, then up
// to 15 s for the server to stop (SIGTERM, then SIGKILL). Setup (build, seed, accounts, start) has its own bound,
// -setup-timeout. Only loopback is ever contacted: -addr must be a loopback
// address, and the HTTP clients refuse to dial anything else.
//
// Flags: see `go run ./cmd/paylinks-load -h`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "paylinks-load:", err)
		os.Exit(1)
	}
}

// config is one load run.
type config struct {
	DB             string        // seeded database (seeded first if missing)
	Links          int           // links to seed when DB is missing
	Force          bool          // run against a database holding real links
	Users          int           // signed-in virtual users
	WebhooksPerSec float64       // paced webhook deliveries per second
	WebhookSources int           // loopback source addresses for webhooks; 0 picks enough
	Duration       time.Duration // measured window, sign-in ramp included
	Ramp           time.Duration // users start evenly spread over this
	ThinkMin       time.Duration // think time between a user's actions
	ThinkMax       time.Duration
	NoDashboard    bool          // leave the dashboard out of the mix
	LiveLists      int           // open list tabs polling GET /links/live
	LiveEvery      time.Duration // how often each asks (app.js: 10 s)
	RequestTimeout time.Duration // per request
	Grace          time.Duration // for requests in flight when the window ends
	SetupTimeout   time.Duration // build, seed, accounts and server start
	Bin            string        // prebuilt paylinks; empty builds one
	Race           bool          // build the server with -race
	Addr           string        // server listen address; loopback only
	WorkDir        string        // binary, server log; empty makes a temp dir
	CPUProfile     string        // file for a CPU profile of the server; empty takes none
	Seed           uint64        // random seed of the users and webhooks
}

func defaultConfig() config {
	return config{
		Links: 1_000_000, Users: 100, WebhooksPerSec: 100, Duration: 60 * time.Second, LiveEvery: liveEvery,
		ThinkMin: 100 * time.Millisecond, ThinkMax: 500 * time.Millisecond,
		// Past the server's own 30 s request deadline, so that it shows as
		// the server's 503 rather than a client timeout.
		RequestTimeout: 35 * time.Second, SetupTimeout: 20 * time.Minute,
		Addr: "127.0.0.1:0",
	}
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	c := defaultConfig()
	fs := flag.NewFlagSet("paylinks-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.DB, "db", "", "seeded paylinks database (required; seeded with -links first if missing; see the package doc for what a run adds to it)")
	fs.IntVar(&c.Links, "links", c.Links, "links to seed when -db does not exist")
	fs.BoolVar(&c.Force, "force", false, "run even though the database holds real (not seeded) links")
	fs.IntVar(&c.Users, "users", c.Users, "signed-in virtual users (each its own account)")
	fs.Float64Var(&c.WebhooksPerSec, "webhooks-per-sec", c.WebhooksPerSec, "signed webhooks per second, paced (0 for none)")
	fs.IntVar(&c.WebhookSources, "webhook-sources", 0, "loopback source addresses the webhooks come from (0: enough to stay under paylinks' 50/s per-IP webhook limit)")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "measured window, sign-in ramp included")
	fs.DurationVar(&c.Ramp, "ramp", 0, "users sign in spread evenly over this (0: a sixth of -duration, at most 10s)")
	fs.DurationVar(&c.ThinkMin, "think-min", c.ThinkMin, "shortest think time between a user's actions")
	fs.DurationVar(&c.ThinkMax, "think-max", c.ThinkMax, "longest think time between a user's actions")
	fs.BoolVar(&c.NoDashboard, "no-dashboard", false, "leave the dashboard out: users land on /links after signing in and never open /")
	fs.IntVar(&c.LiveLists, "live-lists", 0, "open Links tabs, each left on screen by one of the users (spread over them) and asking GET /links/live every 10 s as app.js does; reported as their own routes (0: none, as in runs before the flag)")
	fs.DurationVar(&c.RequestTimeout, "request-timeout", c.RequestTimeout, "deadline of each request")
	fs.DurationVar(&c.Grace, "grace", 0, "time for requests in flight when the window ends (0: -request-timeout + 5s, so none is cut short)")
	fs.DurationVar(&c.SetupTimeout, "setup-timeout", c.SetupTimeout, "bound on build, seeding, accounts and server start")
	fs.StringVar(&c.Bin, "bin", "", "prebuilt paylinks binary (default: go build one into the work directory)")
	fs.BoolVar(&c.Race, "race", false, "build the server with the race detector (slow; a race fails the run)")
	fs.StringVar(&c.Addr, "addr", c.Addr, "server listen address (loopback only; port 0 picks a free one)")
	fs.StringVar(&c.WorkDir, "workdir", "", "directory for the built binary and the server log, created if missing (default: a new temp dir, kept)")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write a CPU profile of the server, taken once the users have signed in until the window ends (at most 60 s), to this file (`go tool pprof -top FILE`)")
	fs.Uint64Var(&c.Seed, "seed", 0, "random seed (0: from the clock)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return c, nil
}

// validate checks the settings and fills the derived defaults.
func (c *config) validate() error {
	var errs []error
	if c.DB == "" {
		errs = append(errs, errors.New("-db is required"))
	}
	if c.Links < 1 || c.Links > 10_000_000 {
		errs = append(errs, errors.New("-links must be between 1 and 10000000"))
	}
	if c.Users < 1 || c.Users > 1000 {
		errs = append(errs, errors.New("-users must be between 1 and 1000"))
	}
	if c.LiveLists < 0 || c.LiveLists > 10_000 {
		errs = append(errs, errors.New("-live-lists must be between 0 and 10000"))
	}
	if c.LiveLists > 0 && c.LiveEvery <= 0 {
		errs = append(errs, errors.New("open lists need a positive interval"))
	}
	if c.WebhooksPerSec < 0 || c.WebhooksPerSec > 5000 {
		errs = append(errs, errors.New("-webhooks-per-sec must be between 0 and 5000"))
	}
	if c.WebhookSources < 0 || c.WebhookSources > 250 {
		errs = append(errs, errors.New("-webhook-sources must be between 0 and 250"))
	}
	if c.Duration < time.Second || c.Duration > 24*time.Hour {
		errs = append(errs, errors.New("-duration must be between 1s and 24h"))
	}
	if c.ThinkMin < 0 || c.ThinkMax < c.ThinkMin {
		errs = append(errs, errors.New("want 0 <= -think-min <= -think-max"))
	}
	if c.Grace == 0 {
		c.Grace = c.RequestTimeout + 5*time.Second
	}
	if c.RequestTimeout <= 0 || c.Grace <= 0 || c.SetupTimeout <= 0 {
		errs = append(errs, errors.New("-request-timeout, -grace and -setup-timeout must be positive"))
	}
	if err := checkLoopbackAddr(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("-addr: %w", err))
	}
	if c.Ramp == 0 {
		c.Ramp = min(c.Duration/6, 10*time.Second)
	}
	if c.Ramp < 0 || c.Ramp >= c.Duration {
		errs = append(errs, errors.New("-ramp must be shorter than -duration"))
	}
	if c.WebhookSources == 0 {
		// paylinks allows PAYLINKS_WEBHOOK_RATE (default 50) webhook
		// requests a second per client IP, as StableMint sends from a few
		// addresses; keep each source at 40 at most.
		c.WebhookSources = max(1, int((c.WebhooksPerSec+39)/40))
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
	return errors.Join(errs...)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	rep, err := load(ctx, cfg, stderr)
	if rep != nil {
		rep.print(stdout)
	}
	if err != nil {
		return err
	}
	if fails := rep.failures(); len(fails) > 0 {
		return fmt.Errorf("load test failed: %s", joinLines(fails))
	}
	return nil
}

package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// load is the whole load test: setup (bounded by cfg.SetupTimeout), the
// measured window, and the server's shutdown. progress gets a line per
// step. The report is returned whenever the window ran, also with an error.
func load(ctx context.Context, cfg config, progress io.Writer) (*report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	dbPath, err := filepath.Abs(cfg.DB)
	if err != nil {
		return nil, err
	}
	workDir := cfg.WorkDir
	if workDir == "" {
		if workDir, err = os.MkdirTemp("", "paylinks-load-*"); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(workDir, 0o755); err != nil {
		return nil, fmt.Errorf("-workdir: %w", err)
	}
	rng := mrand.New(mrand.NewPCG(cfg.Seed, cfg.Seed>>1|1))
	setupCtx, cancelSetup := context.WithTimeout(ctx, cfg.SetupTimeout)
	defer cancelSetup()
	rep := &report{cfg: cfg, dbPath: dbPath, workDir: workDir}

	bin := cfg.Bin
	if bin == "" {
		fmt.Fprintf(progress, "building paylinks into %s…\n", workDir)
		if bin, err = buildServer(setupCtx, workDir, cfg.Race); err != nil {
			return nil, err
		}
	}
	if rep.seeded, err = ensureSeeded(setupCtx, bin, dbPath, cfg.Links, progress); err != nil {
		return nil, err
	}
	// Users first: the CLI also applies pending migrations.
	password := "load-" + rand.Text()
	fmt.Fprintf(progress, "creating %d accounts…\n", cfg.Users)
	start := time.Now()
	if err := ensureUsers(setupCtx, bin, dbPath, cfg.Users, password); err != nil {
		return nil, err
	}
	rep.usersSetup = time.Since(start)
	fmt.Fprintf(progress, "accounts ready in %s\n", rep.usersSetup.Round(100*time.Millisecond))
	// Enough links that each webhook'd payment is a fresh one (a fifth of
	// seeded links are open or processing; each gets five events).
	want := max(2000, 20*cfg.Users, min(50_000, int(cfg.WebhooksPerSec*cfg.Duration.Seconds())))
	facts, err := readDB(setupCtx, dbPath, want, rng)
	if err != nil {
		return nil, err
	}
	if facts.RealLinks > 0 && !cfg.Force {
		return nil, fmt.Errorf("%s holds %d real (not seeded) links; refusing to load-test it (use -force for a copy you do not need)", dbPath, facts.RealLinks)
	}
	rep.links = facts.Links
	if rep.seeded && facts.Links != int64(cfg.Links) {
		return nil, fmt.Errorf("seeded %d links but the database holds %d", cfg.Links, facts.Links)
	}

	metricsToken := rand.Text()
	fmt.Fprintf(progress, "starting paylinks serve (log: %s)…\n", filepath.Join(workDir, "serve.log"))
	srv, err := startServer(setupCtx, bin, dbPath, cfg.Addr, filepath.Join(workDir, "serve.log"), metricsToken)
	if err != nil {
		return nil, err
	}
	rep.logPath = srv.logPath
	rep.pid = srv.pid()
	defer func() { // never leave the server running
		if !srv.exited() {
			srv.stop()
		}
	}()

	var hooks []webhook
	if cfg.WebhooksPerSec > 0 {
		key, err := sandboxKey(dbPath)
		if err != nil {
			return nil, err
		}
		plan := newWebhookPlan(key, facts.Sample)
		if len(plan.links) == 0 {
			return nil, fmt.Errorf("no sampled link has a StableMint reference to send webhooks for")
		}
		n := int(cfg.WebhooksPerSec*cfg.Duration.Seconds()) + 1
		fmt.Fprintf(progress, "signing %d webhooks…\n", n)
		if hooks, err = plan.signAll(setupCtx, n); err != nil {
			return nil, err
		}
	}
	cancelSetup()

	// The window: users ramp in, webhooks start at once. Requests start
	// until end; those still in flight then get cfg.Grace.
	rec := newRecorder()
	mon := startMonitor(srv, metricsToken, dbPath+"-wal")
	winStart := time.Now()
	end := winStart.Add(cfg.Duration)
	runCtx, cancelRun := context.WithDeadline(ctx, end.Add(cfg.Grace))
	defer cancelRun()
	fmt.Fprintf(progress, "running %s: %d users, %d open lists, %g webhooks/s, %d links…\n", cfg.Duration, cfg.Users, cfg.LiveLists, cfg.WebhooksPerSec, facts.Links)
	cpu0, self0 := mon.cpu(), selfCPU()

	var wg sync.WaitGroup
	pages := loopbackTransport(noSource, cfg.Users)
	defer pages.CloseIdleConnections()
	users := make([]*vuser, cfg.Users)
	for i := range cfg.Users {
		delay := time.Duration(int64(cfg.Ramp) * int64(i) / int64(cfg.Users))
		u := newVUser(userEmail(i), password, srv.base, pages, mrand.New(mrand.NewPCG(cfg.Seed, uint64(i)+1)),
			rec, facts.Sample, end, cfg)
		users[i] = u
		wg.Go(func() {
			select {
			case <-time.After(delay):
				u.run(runCtx)
			case <-runCtx.Done():
			}
		})
	}
	// Open lists: list i is a tab of user i mod -users (as many per user
	// as it takes), on that user's connections.
	for i := range cfg.LiveLists {
		l := newLiveList(users[i%cfg.Users], mrand.New(mrand.NewPCG(cfg.Seed, uint64(cfg.Users+i)+1)), cfg.LiveEvery)
		wg.Go(func() { l.run(runCtx) })
	}
	if len(hooks) > 0 {
		wg.Go(func() {
			sendWebhooks(runCtx, srv.base.JoinPath("/webhooks/stablemint").String(), hooks, cfg.WebhooksPerSec,
				webhookSources(cfg.WebhookSources), winStart, end, cfg.RequestTimeout, rec)
		})
	}
	// A server that dies ends the window at once.
	died := make(chan struct{})
	go func() {
		select {
		case <-srv.done:
			close(died)
			cancelRun()
		case <-runCtx.Done():
		}
	}()
	if cfg.CPUProfile != "" {
		// Once every user has signed in, for most of what is left.
		wg.Go(func() {
			rep.profileErr = captureProfile(runCtx, srv, cfg.CPUProfile, winStart.Add(cfg.Ramp), end)
		})
	}
	wg.Wait()
	rep.window = time.Since(winStart)
	rep.interrupted = ctx.Err() != nil
	rep.serverCPU, rep.selfCPU = mon.cpu()-cpu0, selfCPU()-self0
	mon.stop()
	rep.mem = mon.result()
	rep.rec = rec
	select {
	case <-died:
		rep.serverDied = fmt.Sprintf("paylinks serve exited during the run (%v)", srv.waitErr)
	default:
	}
	if fi, err := os.Stat(dbPath + "-wal"); err == nil {
		rep.walBytes = fi.Size()
	}
	if fi, err := os.Stat(dbPath); err == nil {
		rep.dbBytes = fi.Size()
	}

	fmt.Fprintf(progress, "stopping the server…\n")
	stopStart := time.Now()
	rep.cleanStop, rep.stopErr = srv.stop()
	rep.stopTook = time.Since(stopStart)
	rep.log = summariseLog(srv.logPath)
	return rep, nil
}

// monitor samples the server's memory and CPU every second, and its Go heap
// and goroutines from /metrics every two.
type monitor struct {
	srv     *server
	token   string
	walPath string
	quit    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	m       memFigures
}

// procMem is one reading of a process's memory, in bytes.
type procMem struct {
	RSS, HWM   int64 // resident, and its peak since the process started
	Anon, File int64 // resident anonymous memory and mapped file pages
}

// memFigures is what the monitor saw.
type memFigures struct {
	Samples                   int
	RSSStart, RSSPeak, RSSEnd int64
	HWM                       int64 // kernel's peak RSS, since start
	AnonPeak, AnonEnd         int64
	FilePeak, FileEnd         int64
	HeapPeak, HeapEnd         int64 // go_memstats_heap_alloc_bytes
	SysEnd                    int64 // go_memstats_sys_bytes
	GoroutinesPeak            int64
	GoroutinesEnd             int64
	WALPeak, WALEnd           int64 // the database's -wal file
	Err                       string
}

func startMonitor(srv *server, token, walPath string) *monitor {
	m := &monitor{srv: srv, token: token, walPath: walPath, quit: make(chan struct{}), done: make(chan struct{})}
	m.sample(true)
	go m.loop()
	return m
}

func (m *monitor) loop() {
	defer close(m.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for i := 1; ; i++ {
		select {
		case <-m.quit:
			m.sample(true)
			return
		case <-t.C:
			m.sample(i%2 == 0)
		}
	}
}

func (m *monitor) stop() { close(m.quit); <-m.done }

func (m *monitor) result() memFigures {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.m
}

func (m *monitor) cpu() time.Duration {
	d, _ := procCPU(m.srv.pid())
	return d
}

func (m *monitor) sample(scrape bool) {
	pm, err := procMemory(m.srv.pid())
	var heap, sys, gor int64
	var serr error
	if scrape {
		heap, sys, gor, serr = m.scrape()
	}
	var wal int64
	if fi, err := os.Stat(m.walPath); err == nil {
		wal = fi.Size()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	f := &m.m
	f.WALPeak, f.WALEnd = max(f.WALPeak, wal), wal
	if err != nil {
		f.Err = err.Error()
	} else {
		if f.Samples == 0 {
			f.RSSStart = pm.RSS
		}
		f.Samples++
		f.RSSPeak, f.RSSEnd, f.HWM = max(f.RSSPeak, pm.RSS), pm.RSS, pm.HWM
		f.AnonPeak, f.AnonEnd = max(f.AnonPeak, pm.Anon), pm.Anon
		f.FilePeak, f.FileEnd = max(f.FilePeak, pm.File), pm.File
	}
	if scrape && serr == nil {
		f.HeapPeak, f.HeapEnd, f.SysEnd = max(f.HeapPeak, heap), heap, sys
		f.GoroutinesPeak, f.GoroutinesEnd = max(f.GoroutinesPeak, gor), gor
	} else if serr != nil && f.Err == "" {
		f.Err = "metrics: " + serr.Error()
	}
}

var metricsClient = &http.Client{Transport: loopbackTransport(noSource, 1), Timeout: 5 * time.Second}

// scrape reads three Go runtime figures from the server's /metrics.
func (m *monitor) scrape() (heap, sys, goroutines int64, err error) {
	req, _ := http.NewRequest(http.MethodGet, m.srv.base.JoinPath("/metrics").String(), nil)
	req.Header.Set("Authorization", "Bearer "+m.token)
	resp, err := metricsClient.Do(req)
	if err != nil {
		return 0, 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	want := map[string]*int64{"go_memstats_heap_alloc_bytes": &heap, "go_memstats_sys_bytes": &sys, "go_goroutines": &goroutines}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if p := want[name]; ok && p != nil {
			f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
			if err == nil {
				*p = int64(f)
			}
		}
	}
	return heap, sys, goroutines, sc.Err()
}

// logSummary is what the server logged.
type logSummary struct {
	Lines, Errors, Warns int
	FirstErrors          []string // distinct messages, a few
	Races                int      // race detector reports
	Err                  string
}

// summariseLog counts the server's JSON log lines by level and keeps the
// first distinct error messages.
func summariseLog(path string) logSummary {
	var s logSummary
	f, err := os.Open(path)
	if err != nil {
		s.Err = err.Error()
		return s
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Bytes()
		s.Lines++
		if strings.HasPrefix(string(line), "WARNING: DATA RACE") {
			s.Races++
			continue
		}
		var rec struct {
			Level  string `json:"level"`
			Msg    string `json:"msg"`
			Err    string `json:"err"`
			Route  string `json:"route"`
			Status int    `json:"status"`
		}
		if json.Unmarshal(line, &rec) != nil {
			continue
		}
		switch rec.Level {
		case "ERROR":
			s.Errors++
			msg := rec.Msg
			if rec.Route != "" {
				msg += fmt.Sprintf(" [%d %s]", rec.Status, rec.Route)
			}
			if rec.Err != "" {
				msg += ": " + rec.Err
			}
			if !seen[msg] && len(s.FirstErrors) < 5 {
				seen[msg] = true
				s.FirstErrors = append(s.FirstErrors, msg)
			}
		case "WARN":
			s.Warns++
		}
	}
	if err := sc.Err(); err != nil {
		s.Err = err.Error()
	}
	return s
}

// captureProfile writes a CPU profile of the server, taken from its
// profiler (PAYLINKS_PPROF_ADDR) from start for as long as the window
// leaves (at most 60 s), to path.
func captureProfile(ctx context.Context, srv *server, path string, start, end time.Time) error {
	if srv.pprof == "" {
		return fmt.Errorf("the server announced no profiler")
	}
	select {
	case <-time.After(time.Until(start)):
	case <-ctx.Done():
		return ctx.Err()
	}
	secs := int(min(time.Until(end), 60*time.Second) / time.Second)
	if secs < 1 {
		return fmt.Errorf("the window is too short to profile after the ramp")
	}
	c := &http.Client{Transport: loopbackTransport(noSource, 1), Timeout: time.Duration(secs+30) * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.pprof+"profile?seconds="+strconv.Itoa(secs), nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profiler: status %d", resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// serverPkg is what -bin stands in for.
const serverPkg = "github.com/paylinks/paylinks/cmd/paylinks"

// buildServer compiles paylinks into dir.
func buildServer(ctx context.Context, dir string, race bool) (string, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out := filepath.Join(dir, "paylinks")
	args := []string{"build", "-o", out}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.CommandContext(ctx, gobin, append(args, serverPkg)...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", serverPkg, err, stderr.Bytes())
	}
	return out, nil
}

// childEnv is the environment of every paylinks process the load test
// starts: this process's, without any PAYLINKS_* or STABLEMINT_* setting
// (no real provider, no SMTP server, no base URL can leak in: demo mode,
// local mailbox), plus extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PAYLINKS_") || strings.HasPrefix(kv, "STABLEMINT_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// paylinksCmd runs one paylinks subcommand against dbPath to completion.
func paylinksCmd(ctx context.Context, bin, dbPath, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = childEnv("PAYLINKS_DB="+dbPath, "PAYLINKS_LOG_FORMAT=text", "PAYLINKS_LOG_LEVEL=warn")
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// ensureSeeded seeds a missing database with n links.
func ensureSeeded(ctx context.Context, bin, dbPath string, n int, progress io.Writer) (seeded bool, err error) {
	if _, err := os.Stat(dbPath); err == nil {
		return false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o700); err != nil {
		return false, err
	}
	fmt.Fprintf(progress, "seeding %d links into %s (a million takes a few minutes)…\n", n, dbPath)
	start := time.Now()
	out, err := paylinksCmd(ctx, bin, dbPath, "", "seed", "--links", fmt.Sprint(n))
	if err != nil {
		return false, fmt.Errorf("paylinks seed: %w\n%s", err, out)
	}
	fmt.Fprintf(progress, "seeded in %s\n", time.Since(start).Round(time.Second))
	return true, nil
}

// userEmail is virtual user i's account.
func userEmail(i int) string { return fmt.Sprintf("load-user-%03d@paylinks.invalid", i+1) }

// ensureUsers makes n viewer accounts with password, or resets the password
// of those that exist, two at a time (argon2id makes each take a moment).
func ensureUsers(ctx context.Context, bin, dbPath string, n int, password string) error {
	jobs := make(chan int)
	errc := make(chan error, n)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for i := range jobs {
				errc <- ensureUser(ctx, bin, dbPath, i, password)
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errc)
	var errs []error
	for err := range errc {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func ensureUser(ctx context.Context, bin, dbPath string, i int, password string) error {
	email := userEmail(i)
	out, err := paylinksCmd(ctx, bin, dbPath, password+"\n", "users", "create", "--email", email,
		"--name", fmt.Sprintf("Load user %d", i+1), "--role", "viewer", "--password-stdin")
	// Two accounts are made at once: on a busy machine the other
	// process's write can outlast the CLI's wait for the database
	// ("is not writable: database is locked"). Try again a few times.
	for try := 0; err != nil && try < 5 && strings.Contains(out, "database is locked") && ctx.Err() == nil; try++ {
		time.Sleep(time.Duration(try+1) * 500 * time.Millisecond)
		out, err = paylinksCmd(ctx, bin, dbPath, password+"\n", "users", "create", "--email", email,
			"--name", fmt.Sprintf("Load user %d", i+1), "--role", "viewer", "--password-stdin")
	}
	if err == nil {
		return nil
	}
	if !strings.Contains(out, "already exists") {
		return fmt.Errorf("users create %s: %w\n%s", email, err, out)
	}
	if out, err = paylinksCmd(ctx, bin, dbPath, password+"\n", "users", "reset-password", "--email", email, "--password-stdin"); err != nil {
		return fmt.Errorf("users reset-password %s: %w\n%s", email, err, out)
	}
	if out, err = paylinksCmd(ctx, bin, dbPath, "", "users", "enable", "--email", email); err != nil {
		return fmt.Errorf("users enable %s: %w\n%s", email, err, out)
	}
	return nil
}

// server is a running `paylinks serve` child.
type server struct {
	cmd     *exec.Cmd
	base    *url.URL
	pprof   string // the profiler's base URL, ending in /debug/pprof/
	logPath string
	logFile *os.File
	done    chan struct{} // closed when the process has exited
	waitErr error
	copied  sync.WaitGroup // stdout copier
}

// startServer starts `paylinks serve` on addr (loopback) in demo mode and
// waits until it answers /healthz. The server's stdout and stderr go to
// logPath.
func startServer(ctx context.Context, bin, dbPath, addr, logPath, metricsToken string) (*server, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = childEnv("PAYLINKS_DB="+dbPath, "PAYLINKS_ADDR="+addr,
		"PAYLINKS_LOGIN_RATE=10000", // every virtual user signs in from 127.0.0.1
		"PAYLINKS_LOG_FORMAT=json", "PAYLINKS_LOG_LEVEL=info",
		"PAYLINKS_METRICS_TOKEN="+metricsToken,
		"PAYLINKS_PPROF_ADDR=127.0.0.1:0") // for -cpuprofile
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	setChildAttrs(cmd)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start paylinks serve: %w", err)
	}
	s := &server{cmd: cmd, logPath: logPath, logFile: logFile, done: make(chan struct{})}
	listening := make(chan string, 1)
	s.copied.Add(1)
	go func() {
		defer s.copied.Done()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if rest, ok := strings.CutPrefix(line, "profiler on "); ok {
				s.pprof = strings.TrimSpace(rest) // announced before "listening"
			}
			if rest, ok := strings.CutPrefix(line, "paylinks listening on "); ok {
				select {
				case listening <- strings.TrimSpace(rest):
				default:
				}
			}
			fmt.Fprintln(logFile, line)
		}
	}()
	go func() {
		s.copied.Wait() // StdoutPipe: read everything before Wait
		s.waitErr = cmd.Wait()
		close(s.done)
	}()

	select {
	case raw := <-listening:
		u, err := url.Parse(raw)
		if err == nil {
			err = checkLoopbackAddr(u.Host)
		}
		if err != nil {
			s.stop()
			return nil, fmt.Errorf("server announced %q: %v", raw, err)
		}
		s.base = u
	case <-s.done:
		logFile.Close()
		return nil, fmt.Errorf("paylinks serve exited before listening (%v); see %s", s.waitErr, logPath)
	case <-ctx.Done():
		s.stop()
		return nil, fmt.Errorf("waiting for paylinks serve to listen: %w", ctx.Err())
	}
	if err := s.waitHealthy(ctx); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func (s *server) pid() int { return s.cmd.Process.Pid }

func (s *server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// waitHealthy polls /healthz until it answers 200.
func (s *server) waitHealthy(ctx context.Context) error {
	c := &http.Client{Transport: loopbackTransport(noSource, 1), Timeout: 2 * time.Second}
	defer c.CloseIdleConnections()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base.JoinPath("/healthz").String(), nil)
		resp, err := c.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for /healthz: %w (last: %v)", ctx.Err(), err)
		case <-s.done:
			return fmt.Errorf("paylinks serve exited (%v); see %s", s.waitErr, s.logPath)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stopTimeout is how long the server gets to shut down after SIGTERM
// (its own shutdown timeout is 10 s) before it is killed.
const stopTimeout = 15 * time.Second

// stop sends SIGTERM, waits up to stopTimeout, then kills. It reports
// whether the server exited on its own with status 0.
func (s *server) stop() (clean bool, err error) {
	defer s.logFile.Close()
	if !s.exited() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(stopTimeout):
			_ = s.cmd.Process.Kill()
			<-s.done
			return false, fmt.Errorf("paylinks serve did not stop within %s of SIGTERM; killed", stopTimeout)
		}
	}
	if s.waitErr != nil {
		return false, fmt.Errorf("paylinks serve: %w", s.waitErr)
	}
	return true, nil
}

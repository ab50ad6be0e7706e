package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
)

// syncBuffer is an io.Writer safe to read while run writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func envFrom(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// startServe runs `paylinks serve` on a free port and waits for /healthz.
func startServe(t *testing.T, env map[string]string) (base string, stdout *syncBuffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout = &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"paylinks", "serve"}, envFrom(env), strings.NewReader(""), stdout, io.Discard)
	}()
	re := regexp.MustCompile(`listening on (http://\S+)`)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(stdout.String()); m != nil {
			base = m[1]
			if resp, err := http.Get(base + "/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					stop = func() error { cancel(); return <-done }
					t.Cleanup(func() { cancel() })
					return base, stdout, stop
				}
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v\n%s", err, stdout.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	t.Fatalf("serve did not become healthy:\n%s", stdout.String())
	return
}

// openSetupLink finds the one-time setup link serve printed and checks that
// it opens the setup form.
func openSetupLink(t *testing.T, stdout string) {
	t.Helper()
	m := regexp.MustCompile(`(http://\S+/setup\?token=\S+)`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no setup link printed:\n%s", stdout)
	}
	resp, err := http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("setup link: %d", resp.StatusCode)
	}
}

func TestServeFirstRunPrintsSingleUseSetupLink(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"PAYLINKS_ADDR": "127.0.0.1:0", "PAYLINKS_DB": filepath.Join(dir, "paylinks.db")}
	base, out, stop := startServe(t, env)
	openSetupLink(t, out.String())
	resp, _ := http.Get(base + "/setup?token=guessed")
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("guessed token: %d", resp.StatusCode)
	}
	if err := stop(); err != nil {
		t.Fatalf("graceful shutdown: %v", err)
	}
	// Keys were generated beside the database, private to the owner.
	if fi, err := statMode(filepath.Join(dir, "session.keys")); err != nil || fi != 0o600 {
		t.Fatalf("session.keys mode %o, err %v", fi, err)
	}
}

// TestSeedBeforeFirstStartKeepsTheSetupLink: seeding a fresh database
// (its links belong to a disabled account) still leaves the first start
// printing a working setup link, so nobody is locked out.
func TestSeedBeforeFirstStartKeepsTheSetupLink(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"PAYLINKS_ADDR": "127.0.0.1:0", "PAYLINKS_DB": filepath.Join(dir, "paylinks.db")}
	if err := run(context.Background(), []string{"paylinks", "seed", "--links", "10"}, envFrom(env), nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	_, out, stop := startServe(t, env)
	openSetupLink(t, out.String())
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestUsersCommandsScriptAccounts(t *testing.T) {
	dir := t.TempDir()
	env := envFrom(map[string]string{"PAYLINKS_DB": filepath.Join(dir, "paylinks.db")})
	ctx := context.Background()
	var out bytes.Buffer
	err := run(ctx, []string{"paylinks", "users", "create", "--email", "ops@example.com", "--name", "Ops", "--role", "admin", "--password-stdin"},
		env, strings.NewReader("a long enough password\n"), &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "a long enough password") {
		t.Fatal("the password was echoed")
	}
	err = run(ctx, []string{"paylinks", "users", "create", "--email", "OPS@example.com", "--name", "Dup", "--role", "viewer"}, env, strings.NewReader(""), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("duplicate: %v", err)
	}
	err = run(ctx, []string{"paylinks", "users", "create", "--email", "x@example.com", "--name", "X", "--role", "viewer", "--password-stdin"}, env, strings.NewReader("short\n"), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "12 characters") {
		t.Fatalf("short password: %v", err)
	}
	out.Reset()
	if err := run(ctx, []string{"paylinks", "users", "create", "--email", "fin@example.com", "--name", "Fin", "--role", "finance"}, env, strings.NewReader(""), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "one-time password") {
		t.Fatalf("generated password not shown: %s", out.String())
	}
	if err := run(ctx, []string{"paylinks", "users", "disable", "--email", "fin@example.com"}, env, nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(ctx, []string{"paylinks", "users", "list"}, env, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`fin@example.com\s+Fin\s+finance\s+disabled`).MatchString(out.String()) ||
		!regexp.MustCompile(`ops@example.com\s+Ops\s+admin\s+active`).MatchString(out.String()) {
		t.Fatalf("list:\n%s", out.String())
	}
	if err := run(ctx, []string{"paylinks", "users", "reset-password", "--email", "nobody@example.com"}, env, nil, io.Discard, io.Discard); err == nil {
		t.Fatal("reset of an unknown account succeeded")
	}
	// Hidden characters are refused, beside the flag they came in.
	err = run(ctx, []string{"paylinks", "users", "create", "--email", "m@example.com", "--name", "Mallory\u202eexe.txt", "--role", "viewer"},
		env, strings.NewReader(""), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--name: Remove the control or invisible characters") {
		t.Fatalf("a right-to-left override in a name: %v", err)
	}
	// A name stored before the rule is printed escaped, never obeyed.
	st, err := db.Open(ctx, filepath.Join(dir, "paylinks.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateUser(ctx, db.NewUser{Email: "old@example.com", Name: "\x1b[2JOld\u202e", Role: paylink.RoleViewer, PasswordHash: "x"},
		db.AuditEntry{Action: "test"}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	out.Reset()
	if err := run(ctx, []string{"paylinks", "users", "list"}, env, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(out.String(), "\x1b\u202e") || !strings.Contains(out.String(), `\x1b[2JOld\u202e`) {
		t.Fatalf("list printed a raw escape or override:\n%q", out.String())
	}
}

func TestBadConfigurationNamesTheVariable(t *testing.T) {
	cases := map[string]string{
		"PAYLINKS_ADDR":            "no-port",
		"PAYLINKS_BASE_URL":        "ftp://x",
		"PAYLINKS_SESSION_IDLE":    "soon",
		"PAYLINKS_SESSION_KEYS":    "abcd",
		"PAYLINKS_TRUSTED_PROXIES": "10.0.0.0/99",
		"PAYLINKS_LOG_LEVEL":       "loud",
		"PAYLINKS_LOGIN_RATE":      "0",
		"PAYLINKS_WEBHOOK_RATE":    "lots",
	}
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
			env := map[string]string{"PAYLINKS_DB": filepath.Join(t.TempDir(), "x.db"), name: value}
			err := run(context.Background(), []string{"paylinks", "migrate"}, envFrom(env), nil, io.Discard, io.Discard)
			if err == nil || !strings.HasPrefix(err.Error(), name+":") || strings.Count(err.Error(), "\n") != 0 {
				t.Fatalf("got %v, want one line starting with %s:", err, name)
			}
		})
	}
}

func TestMigrateAndUnknownCommand(t *testing.T) {
	env := envFrom(map[string]string{"PAYLINKS_DB": filepath.Join(t.TempDir(), "m.db")})
	var out bytes.Buffer
	if err := run(context.Background(), []string{"paylinks", "migrate"}, env, nil, &out, io.Discard); err != nil || !strings.Contains(out.String(), "up to date") {
		t.Fatalf("migrate: %v %q", err, out.String())
	}
	if err := run(context.Background(), []string{"paylinks", "frobnicate"}, env, nil, io.Discard, io.Discard); err == nil {
		t.Fatal("unknown command accepted")
	}
}

func TestHealthcheckCommand(t *testing.T) {
	env := map[string]string{"PAYLINKS_ADDR": "127.0.0.1:0", "PAYLINKS_DB": filepath.Join(t.TempDir(), "h.db")}
	base, _, stop := startServe(t, env)
	env["PAYLINKS_ADDR"] = strings.TrimPrefix(base, "http://")
	if err := run(context.Background(), []string{"paylinks", "healthcheck"}, envFrom(env), nil, io.Discard, io.Discard); err != nil {
		t.Fatalf("healthy server: %v", err)
	}
	stop()
	if err := run(context.Background(), []string{"paylinks", "healthcheck"}, envFrom(env), nil, io.Discard, io.Discard); err == nil {
		t.Fatal("healthcheck passed with the server stopped")
	}
}

var updateDocs = flag.Bool("update", false, "rewrite the configuration table in docs/operations.md from the settings table")

// operationsDoc holds the configuration table, under "## Configuration".
const operationsDoc = "../../docs/operations.md"

// TestDocsConfigurationTable: the table in docs/operations.md is the
// settings table: the same variables in the same order, each with its shown
// default and its meaning. `go test ./cmd/paylinks -run
// TestDocsConfigurationTable -update` rewrites it from the code.
func TestDocsConfigurationTable(t *testing.T) {
	doc, err := readFile(operationsDoc)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(doc, "\n")
	first, end := configTableRows(t, lines)
	if *updateDocs {
		var rows []string
		for _, s := range settings {
			rows = append(rows, docsRow(s))
		}
		lines = slices.Concat(lines[:first], rows, lines[end:])
		if err := os.WriteFile(operationsDoc, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote %d rows of %s", len(rows), operationsDoc)
		return
	}
	const fix = "edit the settings table in cmd/paylinks/config.go, then run go test ./cmd/paylinks -run TestDocsConfigurationTable -update"

	var docNames, codeNames []string
	rows := map[string][]string{}
	for i, line := range lines[first:end] {
		cells := tableCells(line)
		name := strings.Trim(cells[0], "`")
		if len(cells) != 3 || cells[0] != "`"+name+"`" {
			t.Errorf("%s:%d: want | `VARIABLE` | default | meaning |, got %s", operationsDoc, first+i+1, line)
			continue
		}
		docNames = append(docNames, name)
		rows[name] = cells
	}
	for _, s := range settings {
		codeNames = append(codeNames, s.Name)
	}
	if !slices.Equal(docNames, codeNames) {
		t.Errorf("%s lists\n  %v\nbut the code reads, in this order,\n  %v\n(%s)", operationsDoc, docNames, codeNames, fix)
	}
	for _, s := range settings {
		cells, ok := rows[s.Name]
		if !ok {
			continue
		}
		if got, want := plain(cells[1]), plain(s.shownDefault()); got != want {
			t.Errorf("%s: the docs give the default %q, the code %q (%s)", s.Name, got, want, fix)
		}
		if cells[2] != s.Doc {
			t.Errorf("%s: the docs' meaning differs from the code's:\n  docs: %s\n  code: %s\n(%s)", s.Name, cells[2], s.Doc, fix)
		}
	}
}

// configTableRows finds the rows of the table under "## Configuration":
// lines[first:end].
func configTableRows(t *testing.T, lines []string) (first, end int) {
	t.Helper()
	section := slices.Index(lines, "## Configuration")
	if section < 0 {
		t.Fatalf("%s has no \"## Configuration\" section", operationsDoc)
	}
	header := section + 1
	for header < len(lines) && !strings.HasPrefix(lines[header], "|") && !strings.HasPrefix(lines[header], "## ") {
		header++
	}
	if header+1 >= len(lines) || lines[header] != "| Variable | Default | Meaning |" || !strings.HasPrefix(lines[header+1], "|---") {
		t.Fatalf("%s: no table with the header | Variable | Default | Meaning | under ## Configuration", operationsDoc)
	}
	first = header + 2
	end = first
	for end < len(lines) && strings.HasPrefix(lines[end], "|") {
		end++
	}
	return first, end
}

// docsRow is a setting's row in the docs table.
func docsRow(s setting) string {
	return "| `" + s.Name + "` | " + s.shownDefault() + " | " + strings.ReplaceAll(s.Doc, "|", `\|`) + " |"
}

// tableCells splits a Markdown table row at its unescaped pipes.
func tableCells(line string) []string {
	line = strings.TrimSpace(line)
	line = strings.TrimPrefix(line, "|")
	if strings.HasSuffix(line, "|") && !strings.HasSuffix(line, `\|`) {
		line = line[:len(line)-1]
	}
	var cells []string
	var cell strings.Builder
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == '|':
			cell.WriteByte('|')
			i++
		case line[i] == '|':
			cells = append(cells, strings.TrimSpace(cell.String()))
			cell.Reset()
		default:
			cell.WriteByte(line[i])
		}
	}
	return append(cells, strings.TrimSpace(cell.String()))
}

func TestSeedRefusesRealLinksWithoutForce(t *testing.T) {
	env := envFrom(map[string]string{"PAYLINKS_DB": filepath.Join(t.TempDir(), "s.db")})
	var out bytes.Buffer
	if err := run(context.Background(), []string{"paylinks", "seed", "--links", "300"}, env, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "seeded 300 links") {
		t.Fatalf("output %q", out.String())
	}
	// Seeding again on seeded data continues the sequence.
	if err := run(context.Background(), []string{"paylinks", "seed", "--links", "10"}, env, nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	// A real link makes it refuse, unless forced.
	st, err := db.Open(context.Background(), env("PAYLINKS_DB"))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := st.UserByEmail(context.Background(), "seed-data@paylinks.invalid")
	if _, _, err := st.CreateLink(context.Background(), db.NewLink{IdempotencyKey: "real-1", CustomerID: "C", CustomerEmail: "c@example.com",
		Country: "DE", AmountMinor: 100, AmountText: "1.00", Currency: "EUR", SuccessURL: "https://x/s", SupportURL: "https://x/h",
		ExitURL: "https://x/e", ErrorURL: "https://x/r", CreatedBy: u.ID}, db.AuditEntry{Action: "t"}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	err = run(context.Background(), []string{"paylinks", "seed", "--links", "10"}, env, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "real links") {
		t.Fatalf("seeding over real links: %v", err)
	}
	if err := run(context.Background(), []string{"paylinks", "seed", "--links", "10", "--force"}, env, nil, io.Discard, io.Discard); err != nil {
		t.Fatalf("--force: %v", err)
	}
}

func TestUsersReset2FA(t *testing.T) {
	env := envFrom(map[string]string{"PAYLINKS_DB": filepath.Join(t.TempDir(), "t.db")})
	ctx := context.Background()
	if err := run(ctx, []string{"paylinks", "users", "create", "--email", "a@example.com", "--name", "A", "--role", "admin"}, env, nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(ctx, []string{"paylinks", "users", "reset-2fa", "--email", "a@example.com"}, env, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "removed") {
		t.Fatalf("output %q", out.String())
	}
	if err := run(ctx, []string{"paylinks", "users", "reset-2fa", "--email", "nobody@example.com"}, env, nil, io.Discard, io.Discard); err == nil {
		t.Fatal("reset of an unknown account succeeded")
	}
}
